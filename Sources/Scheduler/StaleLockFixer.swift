public import DispatchModel

/// Decides which containers a previous dispatcher process left locked for nothing (reference §2.8 step 4).
///
/// After a restart the pool adopts the old process's workers in state unknown and finds their runners
/// as probes answer. Until then a Locked container missing from the pool may still be running. The loop
/// calls ``evaluate(queue:pool:timedOut:)`` after the first queue update and again on every pool change,
/// and once more when `Containers.StaleLockTimeout` passes, until the decision is not
/// ``Decision/keepWaiting``.
public struct StaleLockFixer: Hashable, Sendable {
    /// What the loop should do.
    public enum Decision: Hashable, Sendable {
        /// Some workers are still unknown and some locks unexplained: wait for the pool or the timeout.
        case keepWaiting
        /// Unlock these containers, then start scheduling.
        case unlock([ContainerUUID])
        /// Nothing to unlock; start scheduling.
        case done
    }

    private var waited = false

    public init() {}

    /// Evaluates the current snapshots.
    ///
    /// With no unknown worker at the first look, nothing is unlocked (such Locked containers are
    /// scheduled as already-locked work, as in Arvados). Once every lock is explained by a runner, nothing
    /// is unlocked. When the last unknown worker has been probed after waiting, or on timeout, the Locked
    /// containers still without a runner are unlocked.
    /// Before the queue's first update (``QueueSnapshot/updatedAt`` is `nil`) it always waits: an empty
    /// queue then means "not known yet", not "nothing locked".
    public mutating func evaluate(queue: QueueSnapshot, pool: PoolSnapshot, timedOut: Bool) -> Decision {
        if queue.updatedAt == nil { return .keepWaiting }
        let anyUnknown = pool.instances.contains { $0.id != nil && $0.state == .unknown }
        if !anyUnknown && !self.waited && !timedOut { return .done }
        let stale = queue.entries.filter { $0.container.state == .locked && pool.runners[$0.uuid] == nil }
            .map(\.uuid)
        if stale.isEmpty { return .done }
        if anyUnknown && !timedOut {
            self.waited = true
            return .keepWaiting
        }
        return .unlock(stale)
    }
}
