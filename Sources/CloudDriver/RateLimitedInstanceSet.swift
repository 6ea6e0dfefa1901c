public import DispatchModel
import Synchronization

/// Spaces every cloud call of an instance set evenly: at most N operations a second, with no burst
/// (`CloudVMs.MaxCloudOpsPerSecond`, reference §1.4).
///
/// Every `create`, `instances`, `destroy` and `setTags` — on the set and on every instance it returned —
/// waits for its own turn on one shared schedule whose turns are `1s / N` apart. Unlike a ticker, a turn
/// that nobody used is not saved up: after a quiet spell the next call goes at once, and the one after it
/// waits a full interval. With N ≤ 0 calls are not limited.
public struct RateLimitedInstanceSet<Base: InstanceSet, C: Clock>: InstanceSet where C.Duration == Duration {
    public typealias Instance = RateLimitedInstance<Base.Instance, C>

    private let base: Base
    private let limiter: CloudOperationRateLimiter<C>

    /// Limits `base` to `maxOperationsPerSecond` calls a second, measured on `clock`.
    public init(_ base: Base, maxOperationsPerSecond: Int, clock: C) {
        self.base = base
        self.limiter = CloudOperationRateLimiter(maxOperationsPerSecond: maxOperationsPerSecond, clock: clock)
    }

    public func create(
        type: InstanceType,
        imageID: ImageID,
        tags: InstanceTags,
        initCommand: String,
        publicKey: String?
    ) async throws(CloudError) -> Instance {
        try await self.limiter.waitForTurn()
        let instance = try await self.base.create(
            type: type,
            imageID: imageID,
            tags: tags,
            initCommand: initCommand,
            publicKey: publicKey
        )
        return RateLimitedInstance(base: instance, limiter: self.limiter)
    }

    public func instances(tagged tags: InstanceTags) async throws(CloudError) -> [Instance] {
        try await self.limiter.waitForTurn()
        return try await self.base.instances(tagged: tags).map {
            RateLimitedInstance(base: $0, limiter: self.limiter)
        }
    }

    public func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup {
        self.base.quotaGroup(for: type)
    }

    public func stop() async {
        await self.base.stop()
    }
}

extension RateLimitedInstanceSet where C == ContinuousClock {
    /// Limits `base` to `maxOperationsPerSecond` calls a second of real time.
    public init(_ base: Base, maxOperationsPerSecond: Int) {
        self.init(base, maxOperationsPerSecond: maxOperationsPerSecond, clock: ContinuousClock())
    }
}

/// An instance whose `destroy` and `setTags` wait their turn on the instance set's rate limit.
public struct RateLimitedInstance<Base: CloudInstance, C: Clock>: CloudInstance where C.Duration == Duration {
    /// The wrapped instance.
    public let base: Base
    private let limiter: CloudOperationRateLimiter<C>

    init(base: Base, limiter: CloudOperationRateLimiter<C>) {
        self.base = base
        self.limiter = limiter
    }

    public var id: InstanceID { self.base.id }
    public var address: String { self.base.address }
    public var remoteUser: String { self.base.remoteUser }
    public var providerType: String { self.base.providerType }
    public var tags: InstanceTags { self.base.tags }

    public func setTags(_ tags: InstanceTags) async throws(CloudError) {
        try await self.limiter.waitForTurn()
        try await self.base.setTags(tags)
    }

    public func destroy() async throws(CloudError) {
        try await self.limiter.waitForTurn()
        try await self.base.destroy()
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

/// The shared schedule of turns behind ``RateLimitedInstanceSet``.
final class CloudOperationRateLimiter<C: Clock>: Sendable where C.Duration == Duration {
    private let clock: C
    private let interval: Duration?
    /// The earliest instant the next turn may start; `nil` before the first call.
    private let nextTurn: Mutex<C.Instant?>

    init(maxOperationsPerSecond: Int, clock: C) {
        self.clock = clock
        self.interval = maxOperationsPerSecond > 0 ? .seconds(1) / maxOperationsPerSecond : nil
        self.nextTurn = Mutex(nil)
    }

    /// Takes the next free turn and sleeps until it comes.
    func waitForTurn() async throws(CloudError) {
        guard let interval = self.interval else { return }
        let now = self.clock.now
        let turn = self.nextTurn.withLock { next in
            let turn = next.map { max($0, now) } ?? now
            next = turn.advanced(by: interval)
            return turn
        }
        guard now < turn else { return }
        do {
            try await self.clock.sleep(until: turn, tolerance: nil)
        } catch {
            throw CloudError.other("Cancelled while waiting for the cloud rate limit", cause: error)
        }
    }
}
