public import DispatchModel
public import Metrics

/// Counts the cloud calls of an instance set and their failures in
/// `arvados_dispatchcloud_driver_operations{operation, error}` (reference §5.4).
///
/// `operation` is `Create`, `List`, `Destroy` or `SetTags`; `error` is `"1"` for a call that threw and
/// `"0"` otherwise. All eight counters are made when the set is, so they are reported at zero until used.
public struct InstrumentedInstanceSet<Base: InstanceSet>: InstanceSet {
    public typealias Instance = InstrumentedInstance<Base.Instance>

    private let base: Base
    private let counters: DriverOperationCounters

    /// Instruments `base`, making the counters with `factory` (the global metrics system by default).
    public init(_ base: Base, metricsFactory factory: (any MetricsFactory)? = nil) {
        self.base = base
        self.counters = DriverOperationCounters(factory: factory ?? MetricsSystem.factory)
    }

    public func create(
        type: InstanceType,
        imageID: ImageID,
        tags: InstanceTags,
        initCommand: String,
        publicKey: String?
    ) async throws(CloudError) -> Instance {
        do {
            let instance = try await self.base.create(
                type: type,
                imageID: imageID,
                tags: tags,
                initCommand: initCommand,
                publicKey: publicKey
            )
            self.counters.record(.create, failed: false)
            return InstrumentedInstance(base: instance, counters: self.counters)
        } catch {
            self.counters.record(.create, failed: true)
            throw error
        }
    }

    public func instances(tagged tags: InstanceTags) async throws(CloudError) -> [Instance] {
        do {
            let instances = try await self.base.instances(tagged: tags)
            self.counters.record(.list, failed: false)
            return instances.map { InstrumentedInstance(base: $0, counters: self.counters) }
        } catch {
            self.counters.record(.list, failed: true)
            throw error
        }
    }

    public func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup {
        self.base.quotaGroup(for: type)
    }

    public func stop() async {
        await self.base.stop()
    }
}

/// An instance whose `destroy` and `setTags` calls are counted.
public struct InstrumentedInstance<Base: CloudInstance>: CloudInstance {
    /// The wrapped instance.
    public let base: Base
    private let counters: DriverOperationCounters

    init(base: Base, counters: DriverOperationCounters) {
        self.base = base
        self.counters = counters
    }

    public var id: InstanceID { self.base.id }
    public var address: String { self.base.address }
    public var remoteUser: String { self.base.remoteUser }
    public var providerType: String { self.base.providerType }
    public var tags: InstanceTags { self.base.tags }

    public func setTags(_ tags: InstanceTags) async throws(CloudError) {
        do {
            try await self.base.setTags(tags)
            self.counters.record(.setTags, failed: false)
        } catch {
            self.counters.record(.setTags, failed: true)
            throw error
        }
    }

    public func destroy() async throws(CloudError) {
        do {
            try await self.base.destroy()
            self.counters.record(.destroy, failed: false)
        } catch {
            self.counters.record(.destroy, failed: true)
            throw error
        }
    }

    public func priceHistory(for type: InstanceType) -> [InstancePrice] {
        self.base.priceHistory(for: type)
    }

    public static var reportsPriceHistory: Bool { Base.reportsPriceHistory }

    public var instanceSecretPath: String { self.base.instanceSecretPath }

    public func verifyHostKey(_ publicKeyOpenSSH: String) async throws(CloudError) -> HostKeyVerification {
        try await self.base.verifyHostKey(publicKeyOpenSSH)
    }
}

/// The eight `driver_operations` counters.
struct DriverOperationCounters: Sendable {
    /// The metric name, with Arvados's namespace and subsystem.
    static let label = "arvados_dispatchcloud_driver_operations"

    enum Operation: String, CaseIterable, Sendable {
        case create = "Create"
        case list = "List"
        case destroy = "Destroy"
        case setTags = "SetTags"
    }

    private let succeeded: [Operation: Counter]
    private let failed: [Operation: Counter]

    init(factory: any MetricsFactory) {
        func counters(error: String) -> [Operation: Counter] {
            Dictionary(
                uniqueKeysWithValues: Operation.allCases.map { operation in
                    let counter = Counter(
                        label: Self.label,
                        dimensions: [("operation", operation.rawValue), ("error", error)],
                        factory: factory
                    )
                    counter.increment(by: 0)
                    return (operation, counter)
                }
            )
        }
        self.succeeded = counters(error: "0")
        self.failed = counters(error: "1")
    }

    func record(_ operation: Operation, failed: Bool) {
        (failed ? self.failed : self.succeeded)[operation]?.increment()
    }
}
