import DispatchModel

/// What a planning pass depends on, compared cheaply: the versions of the queue's entries and the pool's
/// instances and runners (not the arrays), every other field of the two snapshots, the planner's state, and the
/// one thing `now` decides (whether the API has been quiet long enough since its last 503).
///
/// The queue's update time enters the plan only through the runners that exited before it (a Running
/// container whose runner exited before the queue's last update is cancelled), so that count stands for it:
/// a poll that changes no entry leaves the plan as it was, instead of planning every container again after
/// every `PollInterval`.
///
/// ``SchedulingPlanner/plan(queue:pool:now:)`` is a pure function of these and `now`, and `now` enters it only
/// through that flag and the wait-time gauge; so when two passes have equal inputs the second plan is the
/// first with its gauge brought up to date (``Plan/reused(at:)``). The loop's 1 s wake-ups at a large, quiet
/// cluster then cost two version reads instead of a pass over every container and instance.
struct PassInputs: Equatable {
    var queueVersion: UInt64
    /// Whether the queue has been read at least once.
    var queueKnown: Bool
    /// How many of the pool's runners exited before the queue's last update.
    var runnersExitedBeforeUpdate: Int
    var poolVersion: UInt64
    var atQuota: Bool
    var quotaHeld: Bool?
    var quotaErrors: Int
    var maxInstances: Int
    var createBudget: Int?
    var capacityHolds: Set<CapacityScope>
    var last503At: Timestamp?
    var currentPrices: [InstanceTypeName: Double]
    var dailySpend: DailySpend?
    var preemptions: [ContainerUUID: Int]
    var state: SchedulingPlanner.State
    var quietAfter503: Bool

    /// `nil` when a snapshot has no version (its source does not keep one), or when spot fallback is on (its
    /// capacity rule reads `now`): such passes always plan.
    /// `runnersExitedBeforeUpdate`, when given, is the count for these snapshots, known from an earlier pass over the
    /// same pool version and queue update time (counting walks every runner).
    init?(
        queue: QueueSnapshot,
        pool: PoolSnapshot,
        planner: SchedulingPlanner,
        now: Timestamp,
        runnersExitedBeforeUpdate: Int? = nil
    ) {
        guard let queueVersion = queue.version, let poolVersion = pool.version,
            !planner.configuration.spotFallback.isEnabled
        else { return nil }
        self.queueVersion = queueVersion
        self.queueKnown = queue.updatedAt != nil
        self.runnersExitedBeforeUpdate =
            runnersExitedBeforeUpdate ?? pool.runners.values.count { $0.exited(before: queue.updatedAt) }
        self.poolVersion = poolVersion
        self.atQuota = pool.atQuota
        self.quotaHeld = pool.quotaHeld
        self.quotaErrors = pool.quotaErrors
        self.maxInstances = pool.maxInstances
        self.createBudget = pool.createBudget
        self.capacityHolds = pool.capacityHolds
        self.last503At = pool.last503At
        self.currentPrices = pool.currentPrices
        self.dailySpend = pool.dailySpend
        self.preemptions = pool.preemptions
        self.state = planner.state
        self.quietAfter503 = planner.isQuietAfter503(at: now)
    }
}

/// The last plan and what it was planned from.
struct PassMemo {
    var inputs: PassInputs
    var plan: Plan
    /// The planner's state after planning it.
    var stateAfter: SchedulingPlanner.State
}

extension Plan {
    /// This plan planned again at `now` from the same inputs: the same, but for the wait-time gauge.
    func reused(at now: Timestamp) -> Plan {
        var plan = self
        plan.metrics.containersLongestWaitTimeSeconds =
            self.longestWaitSince.map { now.duration(since: $0).inSeconds } ?? 0
        return plan
    }
}
