public import CloudDriver
public import DispatchModel
import Synchronization

/// An instance set whose quota comes and goes: while `quotaReached()` says so, every create fails with
/// `quotaExceeded` before reaching `base`, as on a cloud account that other users fill and empty. Everything
/// else passes through, and the instances are `base`'s own.
public final class QuotaWindowInstanceSet<Base: InstanceSet>: InstanceSet {
    public typealias Instance = Base.Instance

    private let base: Base
    private let quotaReached: @Sendable () -> Bool
    private let refusedCount = Mutex(0)

    /// - Parameters:
    ///   - base: the cloud.
    ///   - quotaReached: asked at every create; `true` refuses it with `quotaExceeded`.
    public init(_ base: Base, quotaReached: @escaping @Sendable () -> Bool) {
        self.base = base
        self.quotaReached = quotaReached
    }

    /// The creates refused so far.
    public var refused: Int { self.refusedCount.withLock { $0 } }

    public func create(
        type: InstanceType,
        imageID: ImageID,
        tags: InstanceTags,
        initCommand: String,
        publicKey: String?
    ) async throws(CloudError) -> Instance {
        if self.quotaReached() {
            self.refusedCount.withLock { $0 += 1 }
            throw .quotaExceeded("quota reached (injected window)")
        }
        return try await self.base.create(
            type: type,
            imageID: imageID,
            tags: tags,
            initCommand: initCommand,
            publicKey: publicKey
        )
    }

    public func instances(tagged tags: InstanceTags) async throws(CloudError) -> [Instance] {
        try await self.base.instances(tagged: tags)
    }

    public func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup { self.base.quotaGroup(for: type) }

    public func stop() async { await self.base.stop() }
}
