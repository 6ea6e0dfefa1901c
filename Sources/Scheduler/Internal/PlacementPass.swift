import DispatchModel

/// The working state of one placement pass (Arvados's `runQueue`, reference §3.4).
struct PlacementPass {
    /// What the walk reads of each entry.
    private struct EntryInfo {
        var priority: Int
        var createdAt: Timestamp?
        var state: ContainerState
        var isSupervisor: Bool
        var onWorker: Bool
    }

    private let queue: QueueSnapshot
    /// Entry fields by scheduling position, so the walk reads them in order.
    private let info: [EntryInfo]
    private let pool: PoolSnapshot
    /// The runners this pass frees, `finished` and `released` (``SchedulingPlanner/freedRunners(queue:pool:)``): the
    /// pass plans as the pool will be once it has applied them, their containers off their instances and out of the
    /// container limit.
    private let freeing: [ContainerUUID]
    /// The pool's runners that count against the container limit, less those this pass frees.
    private let activeRunners: Int
    private let configuration: SchedulingPlanner.Configuration
    private let now: Timestamp

    /// Entry indices in scheduling order.
    private var order: [Int32] = []
    /// Statuses by scheduling position.
    private var statuses: [ScheduledQueue.Code]
    /// Positions this pass starts, which therefore stop waiting.
    private var started: [Bool]
    private var index: PlacementIndex
    /// Workers at the start of the pass (Arvados's `totalInstances`).
    private let totalInstances: Int
    /// How many containers those workers could hold at most: each as many as its VCPUs (a container needs at
    /// least one), capped by `MaxRunningContainersPerInstance`.
    private let totalSlots: Int
    private var maxContainers = 0
    private var maxSupervisors = 0
    /// This pass's creates, with its backlog (counted against `MaxInstances`).
    private var plannedCreates = 0
    /// This pass's creates the pool starts at once (counted against `MaxConcurrentInstanceCreateOps`).
    private var immediateCreates = 0
    /// How many more new instances this pass may count on (each Locked container that needs one, and each
    /// Queued one locked to get one, takes one); `nil` for no limit.
    private var instanceBudget: Int?
    /// The scheduling position of the first container the quota left without an instance.
    private var overQuotaFrom: Int?
    /// Locked containers after ``overQuotaFrom`` placed on instances there are.
    private var placedOverQuota = 0
    /// Positions of supervisors over the limit.
    private var overMaxSupervisors: [Int] = []
    private var allocatedNotStarted = 0
    /// The summed hourly price of the pool's instances and in-flight creates at the start of the pass.
    private let hourlySpend: Double
    /// What this pass's creates, and the instances its locks count on, add to ``hourlySpend``.
    private var plannedSpend = 0.0
    /// What this pass's creates alone add to ``hourlySpend``.
    private var plannedCreateSpend = 0.0
    /// Containers that would have locked or created but for `MaxHourlySpend`.
    private var waitingOnSpendCap = 0
    private var eligible: [Int] = []
    private var eligibleMemo: [UnsafeRawPointer: Range<Int>] = [:]
    private var eligibleStore: [Int] = []
    private var eligibleMemoHits = 0
    /// The pool's runners matched to entries, shared with the reconciliation.
    let match: RunnerMatch
    /// The placement index as built, before the pass placed anything: for the next pass.
    let indexBase: PlacementIndex.Base
    /// The queue's scheduling order with its sort words: for the next pass.
    let orderMemo: QueueOrder.Memo
    /// Spot containers placed on their on-demand types instead (``SpotFallback``).
    var onDemand: [ContainerUUID: SpotFallback.Decision] = [:]

    private(set) var actions: [Plan.Action] = []
    /// The containers of ``actions``' starts.
    private(set) var startContainers: [ContainerUUID: Container] = [:]
    /// The creates this pass wanted beyond `MaxConcurrentInstanceCreateOps`, in queue order
    /// (``Plan/createBacklog``); at most ``createBacklogLimit``.
    private(set) var createBacklog: [InstanceType] = []
    /// The longest ``createBacklog``: more than the pool can create before a next pass replaces it.
    static let createBacklogLimit = 1000

    init(
        queue: QueueSnapshot,
        pool: PoolSnapshot,
        configuration: SchedulingPlanner.Configuration,
        now: Timestamp,
        finished: [ContainerUUID] = [],
        released: [ContainerUUID] = [],
        matchReusing poolPart: RunnerMatch.PoolPart? = nil,
        indexReusing indexBase: PlacementIndex.Base? = nil,
        orderReusing orderMemo: QueueOrder.Memo? = nil
    ) {
        // First, so that the pool frees those slots before the pass's starts take them.
        self.actions = finished.map { .finished($0) }
        self.queue = queue
        self.pool = pool
        self.configuration = configuration
        self.now = now
        let count = queue.entries.count
        self.statuses = Array(repeating: ScheduledQueue.Code(), count: count)
        self.started = Array(repeating: false, count: count)

        self.freeing = finished + released
        self.match = RunnerMatch(queue: queue, pool: pool, reusing: poolPart, freeing: self.freeing)
        self.activeRunners = self.match.poolPart.activeRunnerCount - self.freeing.count
        self.indexBase = PlacementIndex.built(
            instances: pool.instances,
            entries: queue.entries,
            match: self.match,
            maxContainersPerInstance: configuration.maxRunningContainersPerInstance,
            isAtCapacity: pool.isAtCapacity,
            reusing: indexBase
        )
        self.index = self.indexBase.index
        self.hourlySpend = pool.hourlySpend
        let perInstanceCap =
            configuration.maxRunningContainersPerInstance > 0
            ? configuration.maxRunningContainersPerInstance : Int.max
        // By index, reading the fields in place (a closure over the instances copied each snapshot whole).
        var totalInstances = 0
        var totalSlots = 0
        for index in pool.instances.indices where pool.instances[index].id != nil {
            totalInstances += 1
            totalSlots += min(perInstanceCap, max(1, pool.instances[index].type.vcpus))
        }
        self.totalInstances = totalInstances
        self.totalSlots = totalSlots

        // The fields the walk reads, gathered into scheduling order once, so the walk is sequential; and the sort
        // words, in the same walk of the queue.
        var info: [EntryInfo] = []
        info.reserveCapacity(count)
        var words = QueueOrder.Words(count: count)
        for entry in queue.entries.indices {
            let summary = queue.entries[entry].summary
            let onWorker = self.match.hasRunner(entry)
            info.append(
                EntryInfo(
                    priority: summary.priority,
                    createdAt: summary.createdAt,
                    state: summary.state,
                    isSupervisor: summary.isSupervisor,
                    onWorker: onWorker
                )
            )
            words.append(
                onWorker: onWorker,
                locked: summary.state == .locked,
                priority: summary.priority,
                firstSeenAt: queue.entries[entry].firstSeenAt
            )
        }
        self.orderMemo = QueueOrder.sorted(words, reusing: orderMemo)
        let order = self.orderMemo.order
        self.order = order
        self.info = order.map { info[Int($0)] }
    }

    /// Whether the pool will report quota: a held quota error, or `MaxInstances` reached counting this
    /// pass's creates.
    private var atQuota: Bool {
        self.pool.atQuota || self.atMaxInstances
    }

    /// Whether `MaxInstances`, the dispatcher's own limit, is reached counting this pass's creates.
    private var atMaxInstances: Bool {
        self.pool.maxInstances > 0 && self.pool.instances.count + self.plannedCreates >= self.pool.maxInstances
    }

    /// Whether the provider's quota holds creates (reported as `at_quota`, apart from `MaxInstances`).
    private var atProviderQuota: Bool {
        self.pool.quotaHeld ?? (self.pool.atQuota && !self.atMaxInstances)
    }

    /// Updates the dynamic container limit (reference §3.4 step 3) and derives the supervisor limit.
    mutating func adjustLimits(_ state: inout SchedulingPlanner.State) {
        let running = self.activeRunners
        if let last503 = self.pool.last503At, state.last503Seen.map({ last503 > $0 }) ?? true {
            // Stay just below the load at which the API started refusing requests.
            state.last503Seen = last503
            state.maxContainers = max(1, running - 1)
        } else if state.maxContainers > 0,
            state.last503Seen.map({ self.now.duration(since: $0) > self.configuration.quietAfter503 }) ?? true
        {
            // Grow about 10% beyond the current load while the API is quiet.
            state.maxContainers = max(state.maxContainers, running * 11 / 10 + 1)
        }
        if state.quotaLimited && state.instancesWithinQuota < self.totalInstances {
            state.instancesWithinQuota = self.totalInstances
        }
        if state.quotaLimited && state.slotsWithinQuota < self.totalSlots {
            state.slotsWithinQuota = self.totalSlots
        }
        // Arvados caps the container limit at the instance count here (reference §9.4 item 5); with several
        // containers per instance that starves the instances, so the cap counts the containers they can hold.
        // With one container per instance the two are the same.
        // A quota error the pool met since the last pass counts even if its hold has lifted meanwhile.
        let newQuotaError = self.pool.quotaErrors != state.quotaErrorsSeen
        state.quotaErrorsSeen = self.pool.quotaErrors
        if self.atQuota || newQuotaError {
            if state.maxContainers == 0 || state.maxContainers > self.totalSlots {
                state.maxContainers = max(1, self.totalSlots)
            }
            state.instancesWithinQuota = self.totalInstances
            state.slotsWithinQuota = self.totalSlots
            state.quotaLimited = true
        } else if state.quotaLimited {
            if state.slotsWithinQuota > 0 && state.maxContainers > state.slotsWithinQuota + 1 {
                state.maxContainers = state.slotsWithinQuota + 1
            }
            // Arvados's rule (#20457) in its own unit: count on at most one instance beyond the number known
            // to fit in the quota. Containers that fit the instances there are stay bounded by the slot
            // count above; those that need a new instance are locked only while this budget lasts, so a
            // quota that comes and goes does not lock and unlock the next containers until they run out of
            // attempts.
            self.instanceBudget = max(0, state.instancesWithinQuota + 1 - self.pool.instances.count)
        }
        self.maxContainers = state.maxContainers
        let fraction = self.configuration.supervisorFraction
        self.maxSupervisors = Int(Double(self.maxContainers) * fraction)
        if self.maxSupervisors < 1 && fraction > 0 && self.maxContainers > 0 {
            self.maxSupervisors = 1
        }
    }

    /// Walks the queue in order: locks, starts, creates and tentative allocations (reference §3.4 step 4).
    mutating func place() {
        var trying = self.activeRunners
        var position = 0
        var supervisors = 0
        for k in self.info.indices {
            let state = self.info[k].state
            // Over the quota only Locked containers are placed, on the instances there are (see below); the
            // order has them all before the rest.
            if self.overQuotaFrom != nil && state != .locked { break }
            let isSupervisor = self.info[k].isSupervisor
            if isSupervisor { supervisors += 1 }
            if self.info[k].onWorker {
                // A Queued container with a runner is left from an earlier attempt (the reconciliation kills
                // it); it is neither locked nor started again until that runner is gone.
                if state == .queued { self.statuses[k].kind = .previousAttempt }
                if state == .locked { self.statuses[k].kind = .preparing }
                continue
            }
            if self.info[k].priority < 1 {
                self.statuses[k].kind = .priorityZero
                continue
            }
            if isSupervisor && self.maxSupervisors > 0 && supervisors > self.maxSupervisors {
                self.overMaxSupervisors.append(k)
                self.statuses[k] = .init(kind: .supervisorLimit, position: Int32(self.overMaxSupervisors.count))
                continue
            }
            guard state == .queued || state == .locked else { continue }
            if self.maxContainers > 0 && trying >= self.maxContainers { continue }
            trying += 1

            let i = Int(self.order[k])
            let uuid = self.queue.entries[i].uuid
            let need = self.queue.entries[i].resources
            self.resolveEligibleTypes(of: i)
            let best = self.index.best(for: need, typeIndices: self.eligible)
            var available: Int?
            for t in self.eligible where !self.index.types[t].atCapacity {
                available = t
                break
            }

            if let best {
                if self.overQuotaFrom != nil { self.placedOverQuota += 1 }
                self.index.allocate(need, to: best)
                let slot = self.index.slots[best]
                let id = self.index.id(ofSlot: best)
                if state == .queued {
                    if id != nil {
                        self.actions.append(.lock(uuid))
                    } else {
                        // The instance is a create still in flight: lock once the cloud has made it, so a
                        // create the quota refuses costs the container no dispatch attempt.
                        self.statuses[k] = .init(kind: .newInstance, type: Int32(slot.typeIndex))
                        self.allocatedNotStarted += 1
                    }
                    continue
                }
                if slot.ready, let id {
                    self.actions.append(.start(uuid, on: id))
                    self.startContainers[uuid] = self.queue.entries[i].container
                    self.statuses[k].kind = .preparing
                    self.started[k] = true
                } else {
                    self.statuses[k] = .init(kind: .newInstance, type: Int32(slot.typeIndex))
                    self.allocatedNotStarted += 1
                }
                continue
            }
            // Over the quota, a Locked container with no instance is unlocked (`releaseOverflow`).
            if self.overQuotaFrom != nil { continue }
            if self.atQuota {
                // Keep lower-priority containers from holding instances this one could use: no more locks or
                // creates, and the instances nothing is allocated to are shut down to free the quota.
                // Arvados stops the walk here, so every Locked container after this one loses the instance it
                // was given and is unlocked, each time costing it a dispatch attempt, and its instance, booting
                // or idle, is shut down: a higher-priority container that loses its instance (broken, reclaimed,
                // a restart) at quota then cycles the containers behind it through lock and unlock until they
                // run out of attempts. Here the walk goes on for Locked containers alone, and those that fit an
                // instance keep it; only Locked containers with none are unlocked. Their instances stay out of
                // the shutdown below, so this container waits for an instance to free rather than taking theirs.
                self.overQuotaFrom = k
                if state == .locked { continue } else { break }
            }
            guard let available else {
                // Lower-priority containers may still fit other instance types.
                if state == .locked {
                    position += 1
                    self.statuses[k] = .init(kind: .instanceTypes, position: Int32(position))
                }
                continue
            }
            let price = self.pool.hourlyPrice(of: self.index.types[available].type)
            if let cap = self.spendCapReached(price) {
                // A new instance would take the spend over a cap: wait, Locked or Queued, until instances go
                // away (idle ones are shut down below) or the daily window frees money.
                self.waitingOnSpendCap += 1
                position += 1
                self.statuses[k] = .init(kind: cap, position: Int32(position))
                continue
            }
            if let budget = self.instanceBudget {
                // Within the quota's known level, and one instance beyond it: wait (Locked, or Queued) rather
                // than churn.
                guard budget > 0 else { continue }
                self.instanceBudget = budget - 1
            }
            // A Queued container is not locked for a new instance: the instance is created first and the
            // container locked once it exists (above, on a later pass). A quota or capacity error, however
            // often it comes, then costs no dispatch attempt: only containers with an instance are Locked.
            let type = self.index.types[available].type
            if let budget = self.pool.createBudget, self.immediateCreates >= budget {
                // Beyond the creates the pool takes now: in the backlog, which the pool works through as its
                // creates finish, until the next fresh pass replaces it. Without it, one create a pass: with
                // passes spaced at scale (`passSpacing`), a second or so a create.
                // (Not counted in `containers_allocated_not_started`: as in Arvados, where the pool refuses
                // such a create, the container is not allocated yet.)
                guard self.createBacklog.count < Self.createBacklogLimit else { continue }
                self.createBacklog.append(type)
            } else {
                self.actions.append(.create(type))
                self.immediateCreates += 1
                self.allocatedNotStarted += 1
            }
            self.plannedSpend += price
            self.plannedCreateSpend += price
            self.plannedCreates += 1
            self.statuses[k] = .init(kind: .newInstance, type: Int32(available))
            _ = self.index.addCreate(typeIndex: available, holding: need)
        }

        // Everything else waiting gets a queue position.
        // The provider's quota first (no configuration change helps while it holds), then our own MaxInstances.
        let kind: ScheduledQueue.Code.Kind =
            self.atProviderQuota ? .cloudLimits : self.atMaxInstances ? .maxInstances : .clusterCapacity
        let limit = Int32(clamping: self.pool.maxInstances)
        for k in self.info.indices where self.statuses[k].kind == .none {
            let state = self.info[k].state
            guard state == .queued || state == .locked else { continue }
            position += 1
            self.statuses[k] = .init(kind: kind, position: Int32(position), type: kind == .maxInstances ? limit : 0)
        }
    }

    /// The spend cap one more instance costing `price` an hour would break, or `nil` if none.
    private func spendCapReached(_ price: Double) -> ScheduledQueue.Code.Kind? {
        // A relative tolerance keeps a sum of prices that equals a cap exactly from reading as above it.
        let hourly = self.hourlySpend + self.plannedSpend + price
        let hourlyCap = self.configuration.maxHourlySpend
        if hourlyCap > 0 && hourly > hourlyCap * (1 + 1e-9) { return .hourlySpendCap }
        let dailyCap = self.configuration.maxSpendPerDay
        if dailyCap > 0, let daily = self.pool.dailySpend {
            // The instances, the new one included, must be paid for over the next hour by what is left of the
            // daily budget and what leaves the window in that hour.
            if daily.spent + hourly - daily.freedNextHour > dailyCap * (1 + 1e-9) { return .dailySpendCap }
        }
        return nil
    }

    /// Fills ``eligible`` with the type indices of the entry's eligible types.
    ///
    /// Queues usually share one list among containers with the same constraints, so lists are memoized by
    /// buffer identity (an array's buffer cannot change while the snapshot holds it); others are resolved
    /// by name.
    private mutating func resolveEligibleTypes(of i: Int) {
        if !self.onDemand.isEmpty, self.onDemand[self.queue.entries[i].uuid] != nil {
            self.resolve(self.queue.entries[i].onDemandTypes)
            return
        }
        // Once the memo is full and has rarely hit, lists are evidently not shared: stop looking.
        let useMemo =
            self.eligibleMemo.count < Self.eligibleMemoLimit || self.eligibleMemoHits >= Self.eligibleMemoLimit
        let key =
            useMemo
            ? self.queue.entries[i].instanceTypes.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) } : nil
        if let key, let range = self.eligibleMemo[key] {
            self.eligibleMemoHits += 1
            self.eligible.removeAll(keepingCapacity: true)
            self.eligible.append(contentsOf: self.eligibleStore[range])
            return
        }
        self.eligible.removeAll(keepingCapacity: true)
        for k in self.queue.entries[i].instanceTypes.indices {
            if let t = self.index.typeIndex(named: self.queue.entries[i].instanceTypes[k].name) {
                self.eligible.append(t)
            } else {
                let type = self.queue.entries[i].instanceTypes[k]
                self.eligible.append(self.index.register(type, atCapacity: self.pool.isAtCapacity(type)))
            }
        }
        if let key, self.eligibleMemo.count < Self.eligibleMemoLimit {
            let start = self.eligibleStore.count
            self.eligibleStore.append(contentsOf: self.eligible)
            self.eligibleMemo[key] = start..<self.eligibleStore.count
        }
    }

    private static let eligibleMemoLimit = 4096

    /// Fills ``eligible`` with the type indices of `types`, without the memo.
    private mutating func resolve(_ types: [InstanceType]) {
        self.eligible.removeAll(keepingCapacity: true)
        for type in types {
            if let t = self.index.typeIndex(named: type.name) {
                self.eligible.append(t)
            } else {
                self.eligible.append(self.index.register(type, atCapacity: self.pool.isAtCapacity(type)))
            }
        }
    }

    /// Unlocks what cannot run and, at quota, shuts down instances nothing was allocated to
    /// (reference §3.4 steps 7–8).
    mutating func releaseOverflow() {
        // Positions to unlock: supervisors over their limit, then those over the quota (a range, not a list: at
        // 100,000 containers it is most of the queue).
        var overQuota = 0..<0
        if let from = self.overQuotaFrom {
            // With instances, keep the next in line locked, so a quota error that persists does not use up its
            // lock attempts; with no instances at all, it evidently cannot run: let it run out of attempts and be
            // cancelled rather than starve the queue.
            let keepNext = self.totalInstances > 0 && self.info.count - from > 1
            overQuota = (keepNext ? from + 1 : from)..<self.info.count
        }
        for k in self.overMaxSupervisors { self.unlockIfLocked(k) }
        for k in overQuota where !self.isPlaced(k) { self.unlockIfLocked(k) }
        // At quota, or with a container waiting on the spend cap, instances nothing was allocated to give way.
        guard self.overQuotaFrom != nil || self.waitingOnSpendCap > 0 else { return }
        for (position, slot) in self.index.slots.enumerated() {
            guard let id = self.index.id(ofSlot: position), slot.containers == 0, slot.idleBehavior != .hold,
                slot.state == .booting || slot.state == .idle
            else { continue }
            self.actions.append(.shutdown(id))
        }
    }

    /// Whether the walk gave the container at scheduling position `k` an instance.
    private func isPlaced(_ k: Int) -> Bool {
        self.statuses[k].kind == .preparing || self.statuses[k].kind == .newInstance
    }

    /// Unlocks the container at scheduling position `k` if it is Locked and not on an instance.
    private mutating func unlockIfLocked(_ k: Int) {
        guard self.info[k].state == .locked && !self.info[k].onWorker else { return }
        let uuid = self.queue.entries[Int(self.order[k])].uuid
        self.actions.append(.unlock(uuid, reason: "pool capacity is used by higher priority containers"))
    }

    /// Appends the reconciliation of queue and pool (reference §3.5).
    mutating func reconcile() {
        SchedulingPlanner.reconcile(
            queue: self.queue,
            pool: self.pool,
            match: self.match,
            freeing: self.freeing,
            preemptionBudget: self.configuration.spotFallback.budget,
            into: &self.actions
        )
    }

    /// The queue in scheduling order with statuses.
    func schedule() -> ScheduledQueue {
        ScheduledQueue(
            entries: self.queue.entries,
            order: self.order,
            codes: self.statuses,
            typeNames: self.index.types.map(\.type.name),
            hourlySpendCap: self.configuration.maxHourlySpend,
            dailySpendCap: self.configuration.maxSpendPerDay
        )
    }

    /// When the longest-waiting container (Queued or Locked, priority above 0, not on an instance nor started
    /// by this pass) was created; `nil` if none waits.
    func longestWaitSince() -> Timestamp? {
        var earliest: Timestamp?
        for k in self.info.indices where !self.info[k].onWorker && !self.started[k] {
            let state = self.info[k].state
            guard self.info[k].priority > 0, state == .queued || state == .locked, let created = self.info[k].createdAt
            else { continue }
            if earliest.map({ created < $0 }) ?? true { earliest = created }
        }
        return earliest
    }

    /// The gauges after the pass; `earliest` is ``longestWaitSince()``.
    func metrics(state: SchedulingPlanner.State, earliest: Timestamp?) -> SchedulerMetrics {
        SchedulerMetrics(
            containersAllocatedNotStarted: self.allocatedNotStarted,
            containersNotAllocatedOverQuota: (self.overQuotaFrom.map { self.order.count - $0 - self.placedOverQuota }
                ?? 0)
                + self.overMaxSupervisors.count,
            containersLongestWaitTimeSeconds: earliest.map { self.now.duration(since: $0).inSeconds } ?? 0,
            last503Time: state.last503Seen?.unixSeconds ?? 0,
            maxConcurrentContainers: state.maxContainers,
            atQuota: self.atProviderQuota,
            atMaxInstances: self.atMaxInstances,
            hourlySpend: self.hourlySpend + self.plannedCreateSpend,
            maxHourlySpend: self.configuration.maxHourlySpend,
            containersWaitingOnSpendCap: self.waitingOnSpendCap,
            spendInWindow: self.pool.dailySpend?.spent ?? 0,
            maxSpendPerDay: self.configuration.maxSpendPerDay
        )
    }
}
