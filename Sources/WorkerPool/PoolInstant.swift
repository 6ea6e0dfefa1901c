/// A time on the pool's clock, as the time since the pool was made.
///
/// The pool's state machines, holds and views keep their times in this one concrete type rather than the
/// clock's `Instant`, so they compile for it: generic over the clock's instant, every step of a worker's
/// machine (probed every `ProbeInterval`, for every worker) paid for a runtime type look-up. The pool
/// converts at the clock's edge (``WorkerPool/now``, ``WorkerPool/clockInstant(_:)``), where it sleeps.
struct PoolInstant: InstantProtocol, Sendable {
    /// The time since the pool's origin (negative before it).
    var sinceOrigin: Duration

    init(sinceOrigin: Duration) {
        self.sinceOrigin = sinceOrigin
    }

    func advanced(by duration: Duration) -> PoolInstant {
        PoolInstant(sinceOrigin: self.sinceOrigin + duration)
    }

    func duration(to other: PoolInstant) -> Duration {
        other.sinceOrigin - self.sinceOrigin
    }

    static func < (lhs: PoolInstant, rhs: PoolInstant) -> Bool {
        lhs.sinceOrigin < rhs.sinceOrigin
    }
}
