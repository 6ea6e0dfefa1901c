public import CloudDriver
public import DispatchModel

/// Any instance set, as the pool's `Instances` type: the assembly gets its instance set from a driver as
/// `any InstanceSet`, and `WorkerPool<AnyInstanceSet, …>` takes it as it is.
public struct AnyInstanceSet: InstanceSet {
    public typealias Instance = AnyCloudInstance

    /// The wrapped instance set.
    public let base: any InstanceSet

    public init(_ base: any InstanceSet) {
        self.base = base
    }

    public func create(
        type: InstanceType,
        imageID: ImageID,
        tags: InstanceTags,
        initCommand: String,
        publicKey: String?
    ) async throws(CloudError) -> AnyCloudInstance {
        AnyCloudInstance(
            try await self.base.create(
                type: type,
                imageID: imageID,
                tags: tags,
                initCommand: initCommand,
                publicKey: publicKey
            )
        )
    }

    public func instances(tagged tags: InstanceTags) async throws(CloudError) -> [AnyCloudInstance] {
        try await self.base.instances(tagged: tags).map { AnyCloudInstance($0) }
    }

    public func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup {
        self.base.quotaGroup(for: type)
    }

    public func stop() async {
        await self.base.stop()
    }
}

/// Any cloud instance; ``base`` keeps the driver's own value.
public struct AnyCloudInstance: CloudInstance {
    /// The driver's instance.
    public let base: any CloudInstance

    public init(_ base: any CloudInstance) {
        self.base = base
    }

    public var id: InstanceID { self.base.id }
    public var address: String { self.base.address }
    public var remoteUser: String { self.base.remoteUser }
    public var providerType: String { self.base.providerType }
    public var tags: InstanceTags { self.base.tags }

    public func setTags(_ tags: InstanceTags) async throws(CloudError) {
        try await self.base.setTags(tags)
    }

    public func destroy() async throws(CloudError) {
        try await self.base.destroy()
    }

    public func priceHistory(for type: InstanceType) -> [InstancePrice] {
        self.base.priceHistory(for: type)
    }

    public func verifyHostKey(_ publicKeyOpenSSH: String) async throws(CloudError) -> HostKeyVerification {
        try await self.base.verifyHostKey(publicKeyOpenSSH)
    }
}

extension AnyCloudInstance: WrappingCloudInstance {
    public var wrappedInstance: any CloudInstance { self.base }
}
