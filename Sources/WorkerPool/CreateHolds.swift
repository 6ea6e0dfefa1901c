import CloudDriver
import DispatchModel

/// Why creates are refused for now: quota, capacity and rate-limit holds (reference §3.6, §1.4).
///
/// A value the pool owns; it decides, the pool acts (and notifies the scheduler when a hold expires, at
/// the instants ``expiry`` and friends return).
struct CreateHolds<Instant: InstantProtocol & Sendable>: Sendable where Instant.Duration == Duration {
    /// How long a quota error holds creates when no instance is left to wait for.
    static var quotaErrorTTL: Duration { .seconds(60) }
    /// How long a capacity error holds creates of its scope.
    static var capacityErrorTTL: Duration { .seconds(60) }
    /// How long creates pause once `MaxConcurrentInstanceCreateOps` are in flight.
    static var concurrentCreatesHold: Duration { .seconds(5) }

    /// How many quota errors creates have met so far; the scheduler learns from each one, however short
    /// the hold it caused.
    private(set) var quotaErrors = 0
    /// Creates are refused until then (quota error with no instances).
    private(set) var atQuotaUntil: Instant?
    /// Creates are refused until fewer than this many instances exist (0 for no such hold).
    private(set) var atQuotaUntilFewerInstances = 0
    /// Capacity holds, by ``CloudError/CapacityScope/holdKey``.
    private(set) var atCapacityUntil: [String: Instant] = [:]
    /// `Create` calls are not made until then (rate limit, or too many creates in flight).
    private(set) var createThrottledUntil: Instant?
    /// `Instances` (list) calls are not made until then (rate limit).
    private(set) var listThrottledUntil: Instant?

    init() {}

    /// Whether a create is not expected to work: a quota hold, or `maxInstances` (when positive) reached by
    /// `instanceCount` (workers plus creates in flight).
    func atQuota(instanceCount: Int, maxInstances: Int, at now: Instant) -> Bool {
        self.quotaHeld(at: now) || (maxInstances > 0 && instanceCount >= maxInstances)
    }

    /// Whether a quota error from the provider still holds creates (``atQuota(instanceCount:maxInstances:at:)``
    /// without `MaxInstances`).
    func quotaHeld(at now: Instant) -> Bool {
        if self.atQuotaUntilFewerInstances > 0 { return true }
        if let until = self.atQuotaUntil, now < until { return true }
        return false
    }

    /// Whether `type` (in quota group `group`) is held by a capacity error: for every type, for its group,
    /// or for itself.
    func atCapacity(
        _ type: InstanceType,
        quotaGroup group: @autoclosure () -> InstanceQuotaGroup,
        at now: Instant
    ) -> Bool {
        // Asked for every type at every pass; most of the time nothing is held (and the quota group, a call through
        // the cloud driver's layers, is not asked for).
        guard !self.atCapacityUntil.isEmpty else { return false }
        let keys = ["", group().rawValue, CloudError.CapacityScope.instanceType(type).holdKey]
        return keys.contains { key in self.atCapacityUntil[key].map { now < $0 } ?? false }
    }

    /// Whether `Create` calls are paused.
    func createThrottled(at now: Instant) -> Bool {
        self.createThrottledUntil.map { now < $0 } ?? false
    }

    /// Whether `Instances` calls are paused.
    func listThrottled(at now: Instant) -> Bool {
        self.listThrottledUntil.map { now < $0 } ?? false
    }

    /// Pauses creates for ``concurrentCreatesHold``; returns when the pause ends.
    mutating func tooManyCreates(at now: Instant) -> Instant {
        let until = now.advanced(by: Self.concurrentCreatesHold)
        self.createThrottledUntil = max(until, self.createThrottledUntil ?? until)
        return until
    }

    /// Applies a failed create. `otherInstances` counts the workers and the other creates in flight.
    ///
    /// Returns the instant the new hold expires, if it expires by time, so the pool can notify then.
    mutating func createFailed(_ error: CloudError, otherInstances: Int, at now: Instant) -> Instant? {
        var expiry: Instant?
        if error.code == .quotaExceeded {
            self.quotaErrors &+= 1
            if otherInstances < 1 {
                let until = now.advanced(by: Self.quotaErrorTTL)
                self.atQuotaUntil = until
                expiry = until
            } else if self.atQuotaUntilFewerInstances == 0 || otherInstances < self.atQuotaUntilFewerInstances {
                self.atQuotaUntilFewerInstances = otherInstances
            }
        } else if error.code == .insufficientCapacity {
            let until = now.advanced(by: Self.capacityErrorTTL)
            self.atCapacityUntil[(error.capacityScope ?? .all).holdKey] = until
            expiry = until
        }
        if let throttled = self.rateLimited(error, at: now, list: false) { expiry = throttled }
        return expiry
    }

    /// Applies a failed list; returns when a rate-limit hold ends, if one was set.
    mutating func listFailed(_ error: CloudError, at now: Instant) -> Instant? {
        self.rateLimited(error, at: now, list: true)
    }

    /// A cloud list saw `instanceCount` instances (plus creates in flight): lifts the quota hold once fewer
    /// than it waited for remain. Returns whether the hold was lifted.
    mutating func instancesCounted(_ instanceCount: Int) -> Bool {
        guard self.atQuotaUntilFewerInstances > 0, instanceCount < self.atQuotaUntilFewerInstances else {
            return false
        }
        self.atQuotaUntilFewerInstances = 0
        return true
    }

    private mutating func rateLimited(_ error: CloudError, at now: Instant, list: Bool) -> Instant? {
        guard error.code == .rateLimited, let delay = error.retryAfter, delay > .zero else { return nil }
        let until = now.advanced(by: delay)
        if list {
            self.listThrottledUntil = max(until, self.listThrottledUntil ?? until)
        } else {
            self.createThrottledUntil = max(until, self.createThrottledUntil ?? until)
        }
        return until
    }
}
