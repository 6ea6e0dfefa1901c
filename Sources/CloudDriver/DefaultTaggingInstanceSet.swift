public import DispatchModel

/// Adds the operator's tags (`CloudVMs.ResourceTags`) to every instance an instance set creates.
///
/// A tag passed to `create` wins over a default tag with the same key.
public struct DefaultTaggingInstanceSet<Base: InstanceSet>: InstanceSet {
    public typealias Instance = Base.Instance

    private let base: Base
    /// The tags added to every created instance.
    public let defaultTags: InstanceTags

    public init(_ base: Base, defaultTags: InstanceTags) {
        self.base = base
        self.defaultTags = defaultTags
    }

    public func create(
        type: InstanceType,
        imageID: ImageID,
        tags: InstanceTags,
        initCommand: String,
        publicKey: String?
    ) async throws(CloudError) -> Instance {
        let merged = self.defaultTags.merging(tags) { _, explicit in explicit }
        return try await self.base.create(
            type: type,
            imageID: imageID,
            tags: merged,
            initCommand: initCommand,
            publicKey: publicKey
        )
    }

    public func instances(tagged tags: InstanceTags) async throws(CloudError) -> [Instance] {
        try await self.base.instances(tagged: tags)
    }

    public func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup {
        self.base.quotaGroup(for: type)
    }

    public func stop() async {
        await self.base.stop()
    }
}
