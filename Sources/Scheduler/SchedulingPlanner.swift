public import DispatchModel

/// Decides, from a snapshot of the queue and one of the pool, what the dispatcher should do next.
///
/// One call to ``plan(queue:pool:now:)`` is one Arvados scheduling iteration (`runQueue`, `sync` and
/// `updateMetrics`, reference §3.4, §3.5, §3.7) without any side effect: it returns a ``Plan`` for the
/// scheduling loop to apply. The only thing carried from one pass to the next is ``state`` (the dynamic
/// container limit and what it was derived from).
///
/// Placement indexes the instances by type and by how busy and how ready they are, so a pass costs about
/// O(containers × eligible types) rather than O(containers × instances).
///
/// Where this differs from Arvados, on purpose:
/// - The best existing instance is the busiest one with room, then a ready one over a booting one, then
///   the first in Arvados's instance order. Arvados reaches nearly the same choice by replacing its
///   candidate while scanning, which depends on scan order when the two preferences disagree.
/// - The pool says how many creates it will accept (``PoolSnapshot/createBudget``); the planner plans no
///   more, instead of calling a create that the pool refuses.
/// - There is no "kill the previous attempt first" call before a lock or a start: placement skips every
///   container with a runner in the snapshot (a Queued one is reported as waiting for its previous
///   attempt, and the reconciliation kills that runner), and the loop plans nothing before the queue's
///   first update and the stale-lock check (``StaleLockFixer``).
/// - Shutdowns at quota are planned only for booting or idle instances not on hold (Arvados asks the
///   pool for every instance with nothing allocated and the pool ignores the rest).
/// - Placement and reconciliation run on the same snapshot; they act on disjoint containers (placement
///   skips containers with a runner or a priority of 0, which are all reconciliation acts on).
public struct SchedulingPlanner: Sendable {
    /// The settings the planner reads; every default matches the Arvados configuration default.
    public struct Configuration: Hashable, Sendable {
        /// `CloudVMs.MaxInstances`: the initial container limit when there is no quota estimate; 0 for none.
        public var maxInstances: Int = 64
        /// `CloudVMs.InitialQuotaEstimate`: the initial container limit; 0 to use ``maxInstances``.
        public var initialQuotaEstimate: Int = 0
        /// `CloudVMs.SupervisorFraction`: the share of the container limit supervisors may take; 0 for no limit.
        public var supervisorFraction: Double = 0.5
        /// `CloudVMs.MaxRunningContainersPerInstance`: 0 for no limit (packing is bounded by resources only).
        public var maxRunningContainersPerInstance: Int = 0
        /// How long without an API 503 before the container limit may grow again (Arvados: one minute).
        public var quietAfter503: Duration = .seconds(60)
        /// `DispatchCloud.MaxHourlySpend`: no create may take the summed hourly price of every instance (any
        /// state, in-flight creates included, spot types at their current price) above this; 0 for no cap.
        public var maxHourlySpend: Double = 0
        /// `DispatchCloud.MaxSpendPerDay`: no create while the money spent in the last 24 hours, plus what every
        /// instance and the new one would cost over the next hour, less what leaves the window in that hour,
        /// would exceed this; 0 for no cap. Needs ``PoolSnapshot/dailySpend``.
        public var maxSpendPerDay: Double = 0
        /// `DispatchCloud.SpotFallbackAfter` and `DispatchCloud.PreemptionBudget`: when a spot container falls back
        /// to on-demand types (``SpotFallback``), and how many preemptions requeue a container instead of
        /// cancelling it. Off by default.
        public var spotFallback = SpotFallback.Configuration()

        public init() {}
    }

    /// What the planner remembers between passes.
    public struct State: Hashable, Sendable {
        /// The dynamic limit on containers starting or running at once; 0 for none.
        public var maxContainers: Int
        /// The last API 503 already acted on.
        public var last503Seen: Timestamp?
        /// The largest instance count known to be within the cloud quota; 0 until a quota error.
        public var instancesWithinQuota: Int
        /// How many containers the instances known to be within the quota can hold; 0 until a quota error.
        public var slotsWithinQuota: Int
        /// Whether a quota error (or `MaxInstances`) has ever held creates: from then on the pass counts
        /// on at most one instance beyond ``instancesWithinQuota``.
        public var quotaLimited: Bool
        /// The pool's quota error count already acted on (``PoolSnapshot/quotaErrors``).
        public var quotaErrorsSeen: Int

        public init(
            maxContainers: Int,
            last503Seen: Timestamp? = nil,
            instancesWithinQuota: Int = 0,
            slotsWithinQuota: Int = 0,
            quotaLimited: Bool = false,
            quotaErrorsSeen: Int = 0
        ) {
            self.maxContainers = maxContainers
            self.last503Seen = last503Seen
            self.instancesWithinQuota = instancesWithinQuota
            self.slotsWithinQuota = slotsWithinQuota
            self.quotaLimited = quotaLimited
            self.quotaErrorsSeen = quotaErrorsSeen
        }
    }

    public let configuration: Configuration
    public var state: State
    /// The spot containers that fell back to on-demand types, kept between passes.
    public var fallback: SpotFallback
    /// What the last pass's runner match read from the pool, kept for the next pass over the same pool version.
    var matchPoolPart: RunnerMatch.PoolPart?
    /// The last pass's placement index as built, for the next pass over the same instances.
    var placementBase: PlacementIndex.Base?
    /// The last pass's scheduling order, for the next pass over a queue that changed little.
    var orderMemo: QueueOrder.Memo?

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.fallback = SpotFallback(configuration: configuration.spotFallback)
        let initial =
            configuration.initialQuotaEstimate > 0 ? configuration.initialQuotaEstimate : configuration.maxInstances
        self.state = State(maxContainers: initial)
    }

    /// Plans one scheduling pass.
    ///
    /// - Parameters:
    ///   - queue: the queue cache, as of its last update.
    ///   - pool: the pool's workers, runners and holds.
    ///   - now: the current time, for the 503 quiet period and the wait-time metric.
    /// - Returns: the actions in decision order, the scheduling status of every entry, and the gauges.
    public mutating func plan(queue: QueueSnapshot, pool: PoolSnapshot, now: Timestamp) -> Plan {
        // Runners that finalized their containers free their slots with this pass's `.finished`, and exited runners
        // of final containers with its kills: plan with those slots free already, rather than a pass later (a pass
        // apart is a second at 100,000 containers).
        // (The pass counts them out itself, leaving the snapshot as the pool gave it: marking them in a copy copied
        // the pool's runner table and instance list at every such pass, and made the next pass read the pool again.)
        let (finished, released) = Self.freedRunners(queue: queue, pool: pool)
        // What the last pass read from this very pool (the same version), for a pass after a change of the queue
        // alone, or from a pool that names the same containers in the same places (the same layout), its runners'
        // states read again.
        let reusable = self.matchPoolPart.flatMap { part -> RunnerMatch.PoolPart? in
            guard pool.version != nil else { return nil }
            if part.version == pool.version { return part }
            return pool.layoutVersion != nil && part.layoutVersion == pool.layoutVersion
                ? part.refreshed(from: pool) : nil
        }
        var pass = PlacementPass(
            queue: queue,
            pool: pool,
            configuration: self.configuration,
            now: now,
            finished: finished,
            released: released,
            matchReusing: reusable,
            indexReusing: self.placementBase,
            orderReusing: self.orderMemo
        )
        self.matchPoolPart = pool.version != nil ? pass.match.poolPart : nil
        self.placementBase = pass.indexBase
        self.orderMemo = pass.orderMemo
        if self.configuration.spotFallback.isEnabled {
            let match = pass.match
            self.fallback.update(queue: queue, pool: pool, hasRunner: { match.hasRunner($0) }, now: now)
            pass.onDemand = self.fallback.decisions
        }
        pass.adjustLimits(&self.state)
        pass.place()
        pass.releaseOverflow()
        pass.reconcile()
        let earliest = pass.longestWaitSince()
        var plan = Plan(
            actions: pass.actions,
            queue: pass.schedule(),
            metrics: pass.metrics(state: self.state, earliest: earliest)
        )
        plan.longestWaitSince = earliest
        plan.createBacklog = pass.createBacklog
        plan.startContainers = pass.startContainers
        return plan
    }

    /// Whether the API has been quiet long enough after its last 503 for the container limit to grow at `now`:
    /// the only way `now` changes a plan (besides the wait-time gauge).
    func isQuietAfter503(at now: Timestamp) -> Bool {
        self.state.last503Seen.map { now.duration(since: $0) > self.configuration.quietAfter503 } ?? true
    }
}
