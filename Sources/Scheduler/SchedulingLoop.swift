public import CoreMetrics
public import DispatchModel
import Foundation
public import Logging
public import ServiceLifecycle

/// The container queue as the scheduling loop uses it.
public protocol SchedulingQueue: Sendable {
    /// The queue cache as of its last update.
    func schedulingSnapshot() async -> QueueSnapshot
    /// When the Arvados API last answered 503, if ever.
    func last503() async -> Timestamp?
    /// A stream that yields after every change of the cache; bursts coalesce.
    func changes() async -> AsyncStream<Void>
    /// Locks a Queued container for this dispatcher.
    func lock(_ uuid: ContainerUUID) async throws
    /// Returns a Locked container to the queue.
    func unlock(_ uuid: ContainerUUID) async throws
    /// Cancels a container.
    func cancel(_ uuid: ContainerUUID) async throws
    /// Drops a container from the cache.
    func forget(_ uuid: ContainerUUID) async
    /// Returns a Running container whose instance was preempted to the queue, noting `note` in its
    /// `runtime_status` first.
    func requeue(_ uuid: ContainerUUID, note: [String: JSONValue]) async throws
    /// Merges `note` into a Locked or Running container's `runtime_status`.
    func noteRuntimeStatus(_ uuid: ContainerUUID, _ note: [String: JSONValue]) async throws
}

extension SchedulingQueue {
    /// Unlocks, without a note: for queues that keep no `runtime_status`.
    public func requeue(_ uuid: ContainerUUID, note: [String: JSONValue]) async throws {
        try await self.unlock(uuid)
    }

    /// Does nothing: for queues that keep no `runtime_status`.
    public func noteRuntimeStatus(_ uuid: ContainerUUID, _ note: [String: JSONValue]) async throws {}
}

/// The worker pool as the scheduling loop uses it.
public protocol SchedulingPool: Sendable {
    /// Returns once the pool has applied its first cloud list (Arvados's `CountWorkers`).
    func waitUntilLoaded() async
    /// The pool's workers, runners and holds now.
    func schedulingSnapshot() async -> PoolSnapshot
    /// A stream that yields after every change that may matter to scheduling; bursts coalesce.
    func changes() async -> AsyncStream<Void>
    /// Starts creating an instance; `false` if the pool refused.
    func create(_ type: InstanceType) async -> Bool
    /// Replaces the creates to start, in order, as creates in flight finish (``Plan/createBacklog``); the pool
    /// drops what is left when a create cannot start (quota, capacity, `MaxInstances`, a pause).
    func replaceCreateBacklog(_ types: [InstanceType]) async
    /// Starts `container` on instance `id`; `false` if the instance cannot take it now.
    func startContainer(_ container: Container, on id: InstanceID) async -> Bool
    /// Shuts down an idle or booting instance that is not held; `false` if it was not.
    func shutdown(_ id: InstanceID) async -> Bool
    /// Starts stopping the container's runner; `false` if no worker has it.
    func killContainer(_ uuid: ContainerUUID, reason: String) async -> Bool
    /// The container is Complete and its runner is exiting by itself (``Plan/Action/finished(_:)``).
    func containerFinished(_ uuid: ContainerUUID) async
    /// Forgets that the container's runner ended.
    func forgetContainer(_ uuid: ContainerUUID) async
}

/// Applies scheduling plans: the loop of reference §3.4 around ``SchedulingPlanner``.
///
/// It first waits for the pool's first cloud list and releases the locks a previous process left behind
/// (``StaleLockFixer``), then plans after every queue or pool change and on a wake-up timer (1 s, or 250 ms
/// while a lock, unlock or cancel is in flight), and applies each plan. Queue calls (lock, unlock, cancel)
/// run in the background, at most one per container at a time, so a slow API never stalls placement; pool
/// calls are quick actor calls made in plan order.
public actor SchedulingLoop<C: Clock>: Service where C.Duration == Duration {
    /// How the loop paces itself.
    public struct Configuration: Sendable {
        /// The planner's settings.
        public var planner = SchedulingPlanner.Configuration()
        /// How long to wait for unknown workers before unlocking unexplained locks (`StaleLockTimeout`).
        public var staleLockTimeout: Duration = .seconds(60)
        /// The wake-up interval when nothing changes.
        public var wakeupInterval: Duration = .seconds(1)
        /// The wake-up interval while queue calls are in flight.
        public var busyWakeupInterval: Duration = .milliseconds(250)
        /// The wait before retrying a container's failed queue call, doubling per failure in a row.
        public var retryInitialDelay: Duration = .seconds(1)
        /// The longest wait before retrying a container's failed queue call.
        public var retryMaximumDelay: Duration = .seconds(30)
        /// The shortest time between two log lines about the same kind of failing queue call.
        public var failureLogInterval: Duration = .seconds(60)
        /// The time a pass that planned afresh leaves before the next, per container it planned over, once the
        /// containers and instances are more than ``passSpacingFreeItems``; with ``passSpacingPerInstance``, at
        /// most ``maximumPassSpacing``.
        ///
        /// A pass costs time in proportion to the queue and the pool, and changes come at a rate that grows
        /// with them, so planning after every change grows with their square: at 10,000 containers and
        /// 10,000 instances passes took half of the dispatcher's time. Spaced this way, planning costs at
        /// most a bounded amount of time per second whatever the size (changes that arrive in between are
        /// planned together, in the next pass), and a small cluster is planned after every change as before.
        ///
        /// The two rates follow what a pass costs: about 0.1 µs per container (a fresh pass over 100,000
        /// containers and 100 instances takes 10–15 ms) and 50 times that per instance (about 65 ms at 10,000
        /// containers and 10,000 instances), so the spacing is some fifteen passes' time either way. A slot a
        /// finished container frees waits up to the spacing for its next container: 0.5 s at 100,000 containers.
        public var passSpacingPerContainer: Duration = .microseconds(5)
        /// The time a pass that planned afresh leaves before the next, per instance it planned over.
        public var passSpacingPerInstance: Duration = .microseconds(100)
        /// Queues and pools with at most this many containers and instances together are planned after every
        /// change.
        public var passSpacingFreeItems = 2000
        /// The longest spacing between two passes that planned afresh.
        public var maximumPassSpacing: Duration = .seconds(1)

        public init() {}

        /// The time to leave after a pass that planned over `containers` containers and `instances` instances.
        public func passSpacing(containers: Int, instances: Int) -> Duration {
            guard containers + instances > self.passSpacingFreeItems else { return .zero }
            return min(
                self.maximumPassSpacing,
                self.passSpacingPerContainer * containers + self.passSpacingPerInstance * instances
            )
        }
    }

    private let queue: any SchedulingQueue
    let pool: any SchedulingPool
    private let clock: C
    private let wallClock: @Sendable () -> Timestamp
    private let configuration: Configuration
    private let logger: Logger
    private let metrics: SchedulerGauges
    var planner: SchedulingPlanner
    /// Containers with a lock, unlock or cancel in flight.
    private var busy: Set<ContainerUUID> = []
    /// Containers whose queue call ended after the current pass read the queue: the pass's snapshot may predate
    /// the call's effect (a lock that went through still shows Queued), so the pass makes no call for them; the
    /// next pass, which the call's end wakes, reads the effect.
    private var endedSinceSnapshot: Set<ContainerUUID> = []
    /// Containers whose last queue call failed: no call for them before the instant.
    private var retries: [ContainerUUID: Retry] = [:]
    /// The queue version ``retries`` last dropped the containers gone from the queue at.
    private var retriesPrunedAt: UInt64?
    /// Failing queue calls, per operation, for rate-limited logging.
    private var failureLogs: [String: RepeatedFailureLog<C.Instant>] = [:]
    /// How many queue calls the loop has started (for tests and metrics).
    private var queueCalls = 0
    private var lastPlan = Plan()
    /// Where the loop records the decisions it applies.
    let journal: JournalSink
    /// Each waiting container's last journalled wait, so only changes are recorded.
    var journalledWaits = JournalledWaits()
    /// Containers whose lock, unlock or cancel this pass actually started (a planned call for a container with
    /// one in flight, or in its retry delay, is not made, and not journalled).
    var journalCallsStarted: Set<ContainerUUID> = []
    /// The last kill reason journalled per container, so a kill repeated while the runner stops is recorded once.
    var journalledKills: [ContainerUUID: String] = [:]
    /// The size of ``journalledKills`` at which those of containers gone from the queue are dropped.
    var journalledKillsPruneAt = 64
    /// Containers whose spot fallback is already noted in their `runtime_status`.
    private var fallbackNoted: Set<ContainerUUID> = []
    private var wake: AsyncStream<Void>.Continuation?
    /// Queue calls for ``run()`` to run in its own task group (so a shutdown waits for those in flight).
    private var calls: AsyncStream<@Sendable () async -> Void>.Continuation?
    private var passes = 0
    /// The last plan and its inputs, reused by a pass whose inputs are the same (``PassInputs``).
    private var memo: PassMemo?
    /// Passes that reused the last plan.
    private var reusedPlans = 0
    /// ``PassInputs/runnersExitedBeforeUpdate`` as last counted, with the pool version and queue update time it
    /// counts for (a snapshot's version identifies its runners).
    private var exitedCount: (poolVersion: UInt64, updatedAt: Timestamp?, count: Int)?
    /// Whether the last pass that planned afresh left no spacing because it locked containers.
    private var spacingWaived = false
    /// After a pass whose spacing was waived for its locks: those locks, and until when the loop waits for their
    /// answers before the next pass.
    private var awaitedLocks: (uuids: [ContainerUUID], until: C.Instant)?
    /// Wake-ups that did not pass, waiting for locks' answers (for tests).
    private var heldWakeups = 0
    /// Whether the pool holds a non-empty create backlog from this loop's last fresh plan.
    private var backlogGiven = false

    public init(
        queue: any SchedulingQueue,
        pool: any SchedulingPool,
        clock: C,
        wallClock: @escaping @Sendable () -> Timestamp = Timestamp.now,
        configuration: Configuration = .init(),
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        journal: JournalSink = .none
    ) {
        self.journal = journal
        self.queue = queue
        self.pool = pool
        self.clock = clock
        self.wallClock = wallClock
        self.configuration = configuration
        self.logger = logger
        self.metrics = SchedulerGauges(factory: metricsFactory)
        self.planner = SchedulingPlanner(configuration: configuration.planner)
    }

    /// The last plan's queue, in scheduling order, with each entry's status (the management API's queue).
    public func scheduledQueue() -> ScheduledQueue { self.lastPlan.queue }

    /// The spot containers that fell back to on-demand instance types, with when and why.
    public func spotFallbacks() -> [ContainerUUID: SpotFallback.Decision] { self.planner.fallback.decisions }

    /// The number of planning passes so far (for tests and metrics).
    public func passCount() -> Int { self.passes }

    /// The number of passes that reused the previous plan, nothing it depends on having changed.
    public func reusedPlanCount() -> Int { self.reusedPlans }

    /// The wake-ups that waited for the last lock pass's answers instead of passing.
    func heldWakeupCount() -> Int { self.heldWakeups }

    /// The number of queue calls (lock, unlock, cancel) started so far.
    public func queueCallCount() -> Int { self.queueCalls }

    /// How many queue calls are in flight.
    func queueCallsInFlight() -> Int { self.busy.count }

    public func run() async throws {
        let (wakeups, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.wake = continuation
        let queueChanges = await self.queue.changes()
        let poolChanges = await self.pool.changes()
        let (calls, callContinuation) = AsyncStream.makeStream(of: (@Sendable () async -> Void).self)
        self.calls = callContinuation
        defer { self.calls = nil }
        // Queue calls run as children of this group, which waits for those in flight once the loop ends.
        try await withThrowingDiscardingTaskGroup { callGroup in
            callGroup.addTask {
                defer { callContinuation.finish() }
                try await self.runLoop(wakeups, continuation, queueChanges: queueChanges, poolChanges: poolChanges)
            }
            for await call in calls { callGroup.addTask { await call() } }
        }
    }

    private func runLoop(
        _ wakeups: AsyncStream<Void>,
        _ continuation: AsyncStream<Void>.Continuation,
        queueChanges: AsyncStream<Void>,
        poolChanges: AsyncStream<Void>
    ) async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for await _ in queueChanges { continuation.yield() } }
                group.addTask { for await _ in poolChanges { continuation.yield() } }
                group.addTask { [clock, configuration] in
                    while !Task.isCancelled {
                        let busy = await self.hasBusy()
                        try await clock.sleep(
                            for: busy ? configuration.busyWakeupInterval : configuration.wakeupInterval
                        )
                        continuation.yield()
                    }
                }
                try await self.loop(wakeups)
                group.cancelAll()
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }

    private func hasBusy() -> Bool { !self.busy.isEmpty }

    private func loop(_ wakeups: AsyncStream<Void>) async throws {
        await self.pool.waitUntilLoaded()
        guard try await self.fixStaleLocks(wakeups) else {
            // Graceful shutdown before the queue was ever read: nothing to schedule, nothing to undo.
            return
        }
        self.logger.info("Scheduling started")
        for await _ in wakeups {
            try Task.checkCancellation()
            if let awaited = self.awaitedLocks {
                // Each answer and the busy timer wake the loop; the pass comes once every lock is answered.
                if self.clock.now < awaited.until && awaited.uuids.contains(where: { self.busy.contains($0) }) {
                    self.heldWakeups += 1
                    continue
                }
                self.awaitedLocks = nil
            }
            let spacing = await self.pass()
            if spacing > .zero {
                // Changes meanwhile wait in `wakeups` (one pending element) for the next pass.
                try await self.clock.sleep(for: spacing)
            }
        }
    }

    /// Waits for the queue's first successful update (Arvados retries `queue.Update()` until it succeeds),
    /// then for unknown workers to be probed (or `StaleLockTimeout`, counted from that update), then unlocks
    /// the containers this dispatcher holds locked that no worker runs.
    ///
    /// Scheduling before the queue is known would miss the locks a previous process left: a Locked container
    /// whose runner is on a worker not yet probed would be started a second time elsewhere.
    /// Returns `false` if graceful shutdown ended the wait.
    private func fixStaleLocks(_ wakeups: AsyncStream<Void>) async throws -> Bool {
        var fixer = StaleLockFixer()
        var deadline: C.Instant?
        var iterator = wakeups.makeAsyncIterator()
        while true {
            let queue = await self.queue.schedulingSnapshot()
            let pool = await self.pool.schedulingSnapshot()
            self.recordSpendGauges(pool)
            if queue.updatedAt != nil && deadline == nil {
                deadline = self.clock.now.advanced(by: self.configuration.staleLockTimeout)
            }
            let timedOut = deadline.map { self.clock.now >= $0 } ?? false
            switch fixer.evaluate(queue: queue, pool: pool, timedOut: timedOut) {
            case .done:
                return true
            case .unlock(let stale):
                self.logger.info(
                    "Unlocking containers a previous dispatcher left locked",
                    metadata: ["count": "\(stale.count)"]
                )
                for uuid in stale {
                    do {
                        try await self.queue.unlock(uuid)
                    } catch {
                        self.logger.warning(
                            "Stale lock not released",
                            metadata: ["container.uuid": "\(uuid)", "error": "\(error)"]
                        )
                    }
                }
                return true
            case .keepWaiting:
                guard await iterator.next() != nil else { return false }
            }
        }
    }

    /// Sets the spend gauges from what the pool has accounted (the daily ledger restored from the data directory
    /// after a restart, the instances it lists) while the first pass waits for stale locks, which can take
    /// `StaleLockTimeout`: an operator sees the spend and the caps from the start, not from the first pass.
    private func recordSpendGauges(_ pool: PoolSnapshot) {
        self.metrics.hourlySpend.record(pool.hourlySpend)
        self.metrics.maxHourlySpend.record(self.planner.configuration.maxHourlySpend)
        self.metrics.spendInWindow.record(pool.dailySpend?.spent ?? 0)
        self.metrics.maxSpendPerDay.record(self.planner.configuration.maxSpendPerDay)
    }

    /// Plans once and applies the plan; returns the time to leave before the next pass
    /// (``Configuration-swift.struct/passSpacing(containers:instances:)`` when it planned afresh, else zero; zero
    /// too for a fresh plan with locks, unless the previous fresh plan's spacing was waived the same way).
    @discardableResult
    func pass() async -> Duration {
        self.endedSinceSnapshot.removeAll(keepingCapacity: true)
        let queue = await self.queue.schedulingSnapshot()
        var pool = await self.pool.schedulingSnapshot()
        pool.last503At = await self.queue.last503()
        let now = self.wallClock()
        // The runners that exited before the queue's update, counted once per pool version and update time.
        let exitedCount = self.exitedCount.flatMap { known in
            pool.version == known.poolVersion && queue.updatedAt == known.updatedAt ? known.count : nil
        }
        let inputs = PassInputs(
            queue: queue,
            pool: pool,
            planner: self.planner,
            now: now,
            runnersExitedBeforeUpdate: exitedCount
        )
        if let inputs, let version = pool.version {
            self.exitedCount = (version, queue.updatedAt, inputs.runnersExitedBeforeUpdate)
        }
        let plan: Plan
        var spacing = Duration.zero
        var reused = false
        if let inputs, let memo = self.memo, memo.inputs == inputs {
            // Nothing the planner reads has changed since the last pass: the same plan.
            plan = memo.plan.reused(at: now)
            self.planner.state = memo.stateAfter
            self.reusedPlans += 1
            reused = true
        } else {
            plan = self.planner.plan(queue: queue, pool: pool, now: now)
            self.memo = inputs.map { PassMemo(inputs: $0, plan: plan, stateAfter: self.planner.state) }
            spacing = self.configuration.passSpacing(
                containers: queue.entries.count,
                instances: pool.instances.count
            )
            // The pass's locks, when its spacing may be waived for them.
            let locked: [ContainerUUID] =
                spacing > .zero && !self.spacingWaived
                ? plan.actions.compactMap { if case .lock(let uuid) = $0 { uuid } else { nil } } : []
            if !locked.isEmpty {
                // Its locks are answered within milliseconds, and only the pass after the answers starts those
                // containers: that pass comes once they are answered (at most `busyWakeupInterval` later) rather
                // than a spacing later (a container's start otherwise waits two spacings, a second each at 100,000
                // containers). Not at the first change: a pass before the answers would start none of them, and
                // take the waiver. Never waived twice in a row: the planning time per second at most doubles.
                spacing = .zero
                self.spacingWaived = true
                self.awaitedLocks = (locked, self.clock.now.advanced(by: self.configuration.busyWakeupInterval))
            } else {
                self.spacingWaived = false
            }
        }
        self.passes += 1
        if self.logger.logLevel <= .debug {
            self.logger.debug(
                "Scheduling pass",
                metadata: [
                    "queue.entries": "\(queue.entries.count)", "pool.instances": "\(pool.instances.count)",
                    "pool.workers":
                        "\(pool.instances.map { "\($0.id?.rawValue ?? "-") \($0.state) \($0.runningContainers.count)" })",
                    "pool.runners": "\(pool.runners.count)", "pool.atQuota": "\(pool.atQuota)",
                    "plan.actions": "\(plan.actions.map { "\($0)" }.joined(separator: "; "))",
                ]
            )
        }
        if !self.retries.isEmpty && (queue.version == nil || queue.version != self.retriesPrunedAt) {
            // Containers that left the queue need no retry (looked up once per queue version: a failing call
            // keeps its container's retry for many passes).
            let present = queue.present(Set(self.retries.keys))
            self.retries = self.retries.filter { present.contains($0.key) }
            self.retriesPrunedAt = queue.version
        }
        for action in plan.actions {
            await self.apply(action, containers: plan.startContainers)
        }
        if !reused && (!plan.createBacklog.isEmpty || self.backlogGiven) {
            // A fresh plan's backlog replaces the last (a reused plan's is the one the pool has, less what the
            // pool started: a start moves the pool's version, so the next plan is fresh).
            await self.pool.replaceCreateBacklog(plan.createBacklog)
            self.backlogGiven = !plan.createBacklog.isEmpty
        }
        if !self.planner.fallback.decisions.isEmpty || !self.fallbackNoted.isEmpty {
            await self.noteFallbacks(queue)
        }
        self.lastPlan = plan
        self.metrics.record(plan.metrics)
        if self.journal.isEnabled { self.record(plan, queue: queue, pool: pool, now: now) }
        return spacing
    }

    /// Writes each new spot fallback into its container's `runtime_status` once it is Locked or Running (a Queued
    /// container's cannot change), so its submitter sees when and why.
    ///
    /// Running too: the pass that first sees a container Locked may come while its lock call is still counted in
    /// flight (the answer is applied before the call returns), and by the next pass it may be Running.
    private func noteFallbacks(_ queue: QueueSnapshot) async {
        let decisions = self.planner.fallback.decisions
        self.fallbackNoted = self.fallbackNoted.filter { decisions[$0] != nil }
        for entry in queue.entries where entry.container.state == .locked || entry.container.state == .running {
            let uuid = entry.uuid
            guard let decision = decisions[uuid], !self.fallbackNoted.contains(uuid) else { continue }
            let note = decision.runtimeStatus
            if await self.background(uuid, "note", { queue in try await queue.noteRuntimeStatus(uuid, note) }) {
                self.logger.info(
                    "Container falls back from spot to on-demand",
                    metadata: ["container.uuid": "\(uuid)", "reason": "\(decision.why)"]
                )
                self.fallbackNoted.insert(uuid)
            }
        }
    }

    private func apply(_ action: Plan.Action, containers: [ContainerUUID: Container]) async {
        switch action {
        case .lock(let uuid):
            await self.background(uuid, "lock") { queue in try await queue.lock(uuid) }
        case .unlock(let uuid, let reason):
            self.logger.info("Requeueing container", metadata: ["container.uuid": "\(uuid)", "reason": "\(reason)"])
            await self.background(uuid, "unlock") { queue in try await queue.unlock(uuid) }
        case .cancel(let uuid, let reason):
            self.logger.info("Cancelling container", metadata: ["container.uuid": "\(uuid)", "reason": "\(reason)"])
            await self.background(uuid, "cancel") { queue in try await queue.cancel(uuid) }
        case .requeue(let uuid, let preemptions):
            let budget = self.configuration.planner.spotFallback.budget
            self.logger.info(
                "Requeueing preempted container",
                metadata: ["container.uuid": "\(uuid)", "preemptions": "\(preemptions)", "budget": "\(budget)"]
            )
            let note: [String: JSONValue] = [
                "warning": .string("Preempted: requeued"),
                "warningDetail": .string(
                    "At \(self.wallClock()): its instance vanished while it ran (preemption \(preemptions) of "
                        + "DispatchCloud.PreemptionBudget \(budget)); requeued to run again."
                ),
            ]
            await self.background(uuid, "requeue") { queue in try await queue.requeue(uuid, note: note) }
        case .create(let type):
            if !(await self.pool.create(type)) {
                self.logger.debug("Create refused by the pool", metadata: ["instance.type": "\(type.name)"])
            }
        case .start(let uuid, let id):
            guard let container = containers[uuid] else { return }
            if !(await self.pool.startContainer(container, on: id)) {
                self.logger.debug(
                    "Start refused by the pool",
                    metadata: ["container.uuid": "\(uuid)", "instance.id": "\(id)"]
                )
            }
        case .shutdown(let id):
            _ = await self.pool.shutdown(id)
        case .kill(let uuid, let reason):
            _ = await self.pool.killContainer(uuid, reason: reason)
            await self.pool.forgetContainer(uuid)
        case .finished(let uuid):
            await self.pool.containerFinished(uuid)
        case .forget(let uuid):
            await self.queue.forget(uuid)
        }
    }

    /// Runs a queue call for `uuid` in the background unless one is already in flight for it, or its last one
    /// failed and its retry delay has not passed.
    ///
    /// The call is a child of ``run()``'s task group, so a shutdown waits for it. A pass made outside `run()` (a
    /// test's) has no group: it makes the call itself and waits for it, so nothing it starts outlives it.
    ///
    /// A failure delays the container's next call exponentially (``Configuration/retryInitialDelay`` doubling
    /// up to ``Configuration/retryMaximumDelay``, with jitter), so an API that keeps failing (a full disk, say)
    /// costs a bounded number of calls, not one per pass; and it is logged at most once per
    /// ``Configuration/failureLogInterval`` per operation, with a count.
    @discardableResult
    private func background(
        _ uuid: ContainerUUID,
        _ operation: String,
        _ body: @escaping @Sendable (any SchedulingQueue) async throws -> Void
    ) async -> Bool {
        if let retry = self.retries[uuid], self.clock.now < retry.notBefore { return false }
        guard !self.endedSinceSnapshot.contains(uuid), self.busy.insert(uuid).inserted else { return false }
        if self.journal.isEnabled { self.journalCallsStarted.insert(uuid) }
        self.queueCalls += 1
        let queue = self.queue
        let call: @Sendable () async -> Void = {
            do {
                try await body(queue)
                await self.succeeded(uuid, operation)
            } catch {
                await self.failed(uuid, operation, error)
            }
        }
        if let calls = self.calls, case .enqueued = calls.yield(call) { return true }
        await call()
        return true
    }

    private func succeeded(_ uuid: ContainerUUID, _ operation: String) {
        self.busy.remove(uuid)
        self.endedSinceSnapshot.insert(uuid)
        self.retries[uuid] = nil
        if let line = self.failureLogs[operation]?.succeeded(at: self.clock.now) {
            self.logger.warning(
                "Queue call \(operation) succeeded after failing",
                metadata: ["operation": "\(operation)", "failures": "\(line.count)", "error": "\(line.lastError)"]
            )
        }
        self.wake?.yield()
    }

    /// Schedules the container's retry and logs if a line is due; does not wake the loop, whose timer will.
    private func failed(_ uuid: ContainerUUID, _ operation: String, _ error: any Error) {
        self.busy.remove(uuid)
        self.endedSinceSnapshot.insert(uuid)
        let now = self.clock.now
        var retry =
            self.retries[uuid]
            ?? Retry(
                backoff: RetryBackoff(
                    initial: self.configuration.retryInitialDelay,
                    maximum: self.configuration.retryMaximumDelay
                ),
                notBefore: now
            )
        retry.notBefore = now.advanced(by: retry.backoff.failed())
        self.retries[uuid] = retry
        var log =
            self.failureLogs[operation] ?? RepeatedFailureLog(interval: self.configuration.failureLogInterval)
        if let line = log.failed("\(error)", at: now) {
            self.logger.warning(
                "Queue call \(operation) \(line)",
                metadata: [
                    "container.uuid": "\(uuid)", "operation": "\(operation)", "failures": "\(line.count)",
                    "retry.delay": "\(retry.backoff.step)",
                ]
            )
        }
        self.failureLogs[operation] = log
    }
}

extension SchedulingLoop {
    /// A container whose queue call failed: its backoff and when it may be tried again.
    struct Retry {
        var backoff: RetryBackoff
        var notBefore: C.Instant
    }
}

/// The scheduler's gauges (reference §5.4), set after every pass.
struct SchedulerGauges: Sendable {
    let allocatedNotStarted: Gauge
    let notAllocatedOverQuota: Gauge
    let longestWait: Gauge
    let last503: Gauge
    let maxConcurrent: Gauge
    let atQuota: Gauge
    let atMaxInstances: Gauge
    let hourlySpend: Gauge
    let maxHourlySpend: Gauge
    let waitingOnSpendCap: Gauge
    let spendInWindow: Gauge
    let maxSpendPerDay: Gauge

    init(factory: any MetricsFactory = MetricsSystem.factory) {
        func gauge(_ name: String) -> Gauge { Gauge(label: "arvados_dispatchcloud_" + name, factory: factory) }
        self.allocatedNotStarted = gauge("containers_allocated_not_started")
        self.notAllocatedOverQuota = gauge("containers_not_allocated_over_quota")
        self.longestWait = gauge("containers_longest_wait_time_seconds")
        self.last503 = gauge("last_503_time")
        self.maxConcurrent = gauge("max_concurrent_containers")
        self.atQuota = gauge("at_quota")
        self.atMaxInstances = gauge("at_max_instances")
        self.hourlySpend = gauge("hourly_spend")
        self.maxHourlySpend = gauge("max_hourly_spend")
        self.waitingOnSpendCap = gauge("containers_waiting_on_spend_cap")
        self.spendInWindow = gauge("spend_in_window")
        self.maxSpendPerDay = gauge("max_spend_per_day")
    }

    func record(_ metrics: SchedulerMetrics) {
        self.allocatedNotStarted.record(metrics.containersAllocatedNotStarted)
        self.notAllocatedOverQuota.record(metrics.containersNotAllocatedOverQuota)
        self.longestWait.record(metrics.containersLongestWaitTimeSeconds)
        self.last503.record(metrics.last503Time)
        self.maxConcurrent.record(metrics.maxConcurrentContainers)
        self.atQuota.record(metrics.atQuota ? 1 : 0)
        self.atMaxInstances.record(metrics.atMaxInstances ? 1 : 0)
        self.hourlySpend.record(metrics.hourlySpend)
        self.maxHourlySpend.record(metrics.maxHourlySpend)
        self.waitingOnSpendCap.record(metrics.containersWaitingOnSpendCap)
        self.spendInWindow.record(metrics.spendInWindow)
        self.maxSpendPerDay.record(metrics.maxSpendPerDay)
    }
}
