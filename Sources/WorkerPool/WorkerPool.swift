public import CloudDriver
public import CoreMetrics
public import DispatchModel
import Foundation
public import Logging
public import RemoteExecution
public import ServiceLifecycle

/// The set of worker VMs one dispatcher owns: creates, adopts, probes and destroys instances, starts and
/// kills container runners on them, and keeps the pool metrics (reference §1.5, §2, §3.6).
///
/// One ``WorkerStateMachine`` per instance decides what happens to it; the pool performs the actions the
/// machines return (cloud calls, probes, runner commands) as background jobs of ``run()``, and reports
/// each change on the streams of ``subscribe()``. Time comes from the clock `C`, so tests drive the pool
/// with a manual clock.
///
/// Run it as a `Service`: ``run()`` lists the cloud every `SyncInterval`, probes every worker every
/// `ProbeInterval`, and keeps the metrics; graceful shutdown stops it and leaves every instance and
/// container as it is.
public actor WorkerPool<Instances: InstanceSet, C: Clock>: Service where C.Duration == Duration {
    public typealias Instance = Instances.Instance
    typealias Machine = WorkerStateMachine<PoolInstant>
    typealias Job = @Sendable () async -> Void

    /// One instance and the machine that decides for it.
    ///
    /// A class, owned by the pool and never handed out: the pool reads and changes its workers in place, every
    /// worker every `ProbeInterval`, and a struct generic over the instance type was copied whole at each read.
    final class Worker {
        var machine: Machine
        /// The wall-clock time the instance appeared (the machine's `appeared`), read then.
        let appearedAt: Timestamp
        /// The wall-clock time the worker was last known busy (the machine's `busy`), read when that changed.
        var busyAt: Timestamp
        /// The instance as last listed (set with ``relist(_:)``).
        private(set) var instance: Instance
        /// ``instance``'s tags and address, read when it is set: the pool is compiled generic over its instances, and
        /// there reading a field of `instance` copied the instance first, decorators and all (every worker, every
        /// cloud list).
        private(set) var tags: InstanceTags
        private(set) var address: String
        var type: InstanceType
        /// The listing ``executor`` reads the instance's address from.
        let listing: InstanceListing<Instance>
        let executor: any RemoteExecutor
        /// The tags last sent to `setTags`, while they are not yet listed.
        var requestedTags: InstanceTags?
        /// Whether a command has reached the instance yet (for the time-to-SSH metric).
        var connected = false
        /// The last run-probe output and what was read from it (the next probe's output is often the same).
        var lastListing: (output: [UInt8], list: RunnerList)?
        /// Whether there is a ``lastListing`` (asked without copying it).
        var hasLastListing: Bool {
            if case .none = self.lastListing { return false }
            return true
        }
        /// Whether the pool has let the worker go (its instance disappeared): code that held the worker across an
        /// `await` checks this instead of looking the worker up again by ID.
        var removed = false
        /// The number of the last cloud list that listed the instance (``WorkerPool/listings``).
        var listed: UInt64 = 0
        /// The commands for the instance with the runner last used, made once (reading the remote user copies the
        /// instance, decorators and all) and dropped when the instance is listed with another remote user.
        var remoteCommands: RemoteCommands?

        /// Takes `instance`, a new listing of the worker's instance.
        func relist(_ instance: Instance) {
            self.instance = instance
            self.tags = instance.tags
            self.address = instance.address
        }

        /// The commands for the instance with the runner `runner`.
        func commands(runner: String) -> RemoteCommands {
            if let commands = self.remoteCommands, commands.runner == runner { return commands }
            let commands = RemoteCommands(runner: runner, remoteUser: self.instance.remoteUser)
            self.remoteCommands = commands
            return commands
        }

        init(
            machine: Machine,
            appearedAt: Timestamp,
            instance: Instance,
            type: InstanceType,
            listing: InstanceListing<Instance>,
            executor: any RemoteExecutor
        ) {
            self.machine = machine
            self.appearedAt = appearedAt
            self.busyAt = appearedAt
            self.instance = instance
            self.tags = instance.tags
            self.address = instance.address
            self.type = type
            self.listing = listing
            self.executor = executor
        }
    }

    /// A create in flight, keyed by its instance secret.
    struct PendingCreate {
        var startedAt: PoolInstant
        var wallStartedAt: Timestamp
        var type: InstanceType
    }

    public nonisolated let configuration: Configuration
    nonisolated let instanceSet: Instances
    nonisolated let clock: C
    /// The clock's time when the pool was made: ``PoolInstant``'s zero.
    nonisolated let origin: C.Instant
    nonisolated let logger: Logger
    nonisolated let makeExecutor: @Sendable (InstanceListing<Instance>) -> any RemoteExecutor
    nonisolated let wallClock: @Sendable () -> Timestamp
    nonisolated let metrics: PoolMetrics
    /// Where the pool records its decisions (shutdowns, probe outcomes, adoptions, holds).
    nonisolated let journal: JournalSink
    nonisolated let jobs: AsyncStream<Job>
    nonisolated let jobContinuation: AsyncStream<Job>.Continuation

    var workers: [InstanceID: Worker] = [:]
    /// How many cloud lists the pool has applied (each listed worker is marked with the count).
    var listings: UInt64 = 0
    /// The workers in the order a probe round takes them (by ID), kept as workers come and go (sorting every round
    /// was a fiftieth of a simulated day at a thousand instances), with their IDs: a round looks none up.
    var probeOrder: [(id: InstanceID, worker: Worker)] = []
    var creating: [String: PendingCreate] = [:] {
        didSet { self.schedulingViews.markPendingStale() }
    }
    /// The scheduler's creates still to start as creates in flight finish, next first (``replaceCreateBacklog(_:)``).
    var createBacklog: ArraySlice<InstanceType> = []
    /// Containers whose runner has ended, until the scheduler forgets them (changed through
    /// ``runnerExited(_:at:)`` and ``forgetExited(_:)``, which keep the scheduling views' runner table).
    private(set) var exited: [ContainerUUID: Timestamp] = [:]
    /// What a scheduling pass reads, kept up to date incrementally (``SchedulingViews``).
    var schedulingViews = SchedulingViews()
    /// Containers being started, for the runner configuration.
    var startingContainers: [ContainerUUID: Container] = [:]
    /// Each instance type's JSON as the runner configuration's `InstanceType` carries it, by name (with the type it
    /// was made from): the same for every container started on that type.
    var runnerTypeJSON: [InstanceTypeName: (type: InstanceType, json: String)] = [:]
    /// The runner configuration's `Cluster` member (the whole cluster configuration), encoded once.
    var runnerClusterJSON: [UInt8]?
    /// How many times each container has lost its instance under it while its runner was alive (this process's
    /// count; see ``preemptionCounts()``).
    var preemptions: [ContainerUUID: Int] = [:]
    var holds = CreateHolds<PoolInstant>()
    var quarantine: BootQuarantine<PoolInstant>
    var loaded = false
    /// ``run()`` has returned: no more creates.
    var stopped = false
    var loadedWaiters: [CheckedContinuation<Void, Never>] = []
    var subscribers: [UInt64: AsyncStream<Void>.Continuation] = [:]
    var nextSubscriberID: UInt64 = 0
    var runnerBinary: RunnerBinary?
    /// The last run-probe command line made, and what it was made for: every probe of a pool sends the same one.
    var lastListCommand: (commands: RemoteCommands, withPrices: Bool, line: String)?
    var probeBudget: Double
    var probeBudgetAt: PoolInstant
    var instanceGaugeKeys: Set<InstanceGaugeKey> = []
    /// How many times the gauges were computed.
    var gaugeRefreshes = 0

    struct InstanceGaugeKey: Hashable {
        var category: String
        var type: InstanceTypeName
    }

    /// Makes a pool over `instanceSet`.
    ///
    /// - Parameters:
    ///   - makeExecutor: Makes the executor that runs commands on an instance (SSH, or in process for the
    ///     simulated cloud), given the instance's listing, which the pool keeps up to date.
    ///   - wallClock: The current wall-clock time, for the times the API shows and container queue times.
    ///   - metricsFactory: Where the pool's metrics go.
    ///   - journal: Where the pool records its decisions.
    public init(
        configuration: Configuration,
        instanceSet: Instances,
        clock: C,
        logger: Logger,
        makeExecutor: @escaping @Sendable (InstanceListing<Instance>) -> any RemoteExecutor,
        wallClock: @escaping @Sendable () -> Timestamp = Timestamp.now,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        journal: JournalSink = .none
    ) {
        self.journal = journal
        self.configuration = configuration
        self.instanceSet = instanceSet
        self.clock = clock
        self.logger = logger
        self.makeExecutor = makeExecutor
        self.wallClock = wallClock
        self.metrics = PoolMetrics(factory: metricsFactory)
        (self.jobs, self.jobContinuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        self.quarantine = BootQuarantine(configuration: configuration.bootQuarantine)
        self.probeBudget = configuration.probeRate
        self.origin = clock.now
        self.probeBudgetAt = PoolInstant(sinceOrigin: .zero)
    }

    // MARK: - Service

    /// Syncs with the cloud, probes workers and keeps the metrics until cancelled or shut down gracefully.
    ///
    /// Instances and their containers are left as they are when it returns.
    public func run() async throws {
        // Gauges nobody records (a simulation's no-op metrics) are not computed: at a thousand workers, a walk
        // over all of them after every change was an eighth of a simulated day's work.
        let changes: AsyncStream<Void>? = self.metrics.recorded ? self.subscribe() : nil
        if self.metrics.recorded { self.refreshMetrics() }
        defer { self.stopped = true }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.syncLoop() }
                group.addTask { await self.probeLoop() }
                if let changes {
                    group.addTask {
                        for await _ in changes {
                            // A refresh walks every worker: after one, wait nine times what it took (at most a
                            // second), so the gauges take at most a tenth of the pool's time however often it
                            // changes; the changes meanwhile coalesce into the next refresh. On the pool's clock,
                            // so a simulation (whose refreshes take no time) does not wait on the machine.
                            let started = self.now
                            await self.refreshMetrics()
                            let cost = started.duration(to: self.now)
                            if cost > .zero { try? await self.clock.sleep(for: min(cost * 9, .seconds(1))) }
                        }
                    }
                }
                for await job in self.jobs {
                    group.addTask { await job() }
                }
            }
        }
        await self.closeExecutors()
    }

    private func closeExecutors() async {
        for worker in self.workers.values { await worker.executor.close() }
    }

    /// The clock's current time, as the pool keeps times.
    nonisolated var now: PoolInstant {
        PoolInstant(sinceOrigin: self.origin.duration(to: self.clock.now))
    }

    /// The clock's instant for a pool time, to sleep until it.
    nonisolated func clockInstant(_ instant: PoolInstant) -> C.Instant {
        self.origin.advanced(by: instant.sinceOrigin)
    }

    /// Runs `job` in the background, under ``run()``.
    nonisolated func spawn(_ job: @escaping Job) {
        self.jobContinuation.yield(job)
    }

    /// Notifies subscribers at `instant` (a hold expires then).
    func notify(at instant: PoolInstant) {
        let clock = self.clock
        let instant = self.clockInstant(instant)
        self.spawn {
            do {
                try await clock.sleep(until: instant, tolerance: nil)
            } catch {
                return
            }
            await self.notify()
        }
    }

    // MARK: - Notifications

    /// A stream that yields after every change that may matter to scheduling: a worker's state, a new or
    /// vanished worker, an expired hold. Bursts coalesce into one element.
    public func subscribe() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = self.nextSubscriberID
        self.nextSubscriberID += 1
        self.subscribers[id] = continuation
        continuation.onTermination = { _ in
            Task { await self.unsubscribe(id) }
        }
        return stream
    }

    private func unsubscribe(_ id: UInt64) {
        self.subscribers[id] = nil
    }

    /// Tells every subscriber that the pool changed.
    func notify() {
        for continuation in self.subscribers.values { continuation.yield() }
    }

    // MARK: - Health

    /// Throws when the runner binary cannot be read: no worker could pass its boot probe.
    public func checkHealth() throws(WorkerPoolError) {
        _ = try self.loadRunnerBinary()
    }

    /// Reads `DeployRunnerBinary` once (retrying while it fails) and computes its MD5.
    func loadRunnerBinary() throws(WorkerPoolError) -> RunnerBinary {
        if let binary = self.runnerBinary { return binary }
        let path = self.configuration.deployRunnerBinary
        guard !path.isEmpty else {
            let binary = RunnerBinary(data: nil, md5Hex: "", command: self.configuration.crunchRunCommand)
            self.runnerBinary = binary
            return binary
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw WorkerPoolError(
                code: .runnerBinaryUnreadable,
                message: "cannot read the runner binary \(path)",
                cause: error
            )
        }
        let bytes = [UInt8](data)
        let md5Hex = Digests.md5Hex(bytes)
        let binary = RunnerBinary(
            data: bytes,
            md5Hex: md5Hex,
            command: RemoteCommands.deployedRunnerPath(
                directory: self.configuration.deployRunnerDirectory,
                md5Hex: md5Hex
            )
        )
        self.runnerBinary = binary
        self.logger.info(
            "Runner binary loaded",
            metadata: ["runner.path": "\(path)", "runner.md5": "\(md5Hex)", "runner.command": "\(binary.command)"]
        )
        return binary
    }

    // MARK: - Queries

    /// Every worker and pending create, sorted by instance ID then type (pending creates first).
    public func instances() -> [InstanceView] {
        var views: [InstanceView] = self.workers.map { id, worker in
            self.view(of: id, worker)
        }
        views += self.pendingViews()
        return views.sorted { lhs, rhs in
            let left = lhs.instance?.rawValue ?? ""
            let right = rhs.instance?.rawValue ?? ""
            return left != right ? left < right : lhs.instanceType.name < rhs.instanceType.name
        }
    }

    /// The number of workers of each type that are (or will soon be) available for containers: creates in
    /// flight and booting, idle or unknown workers that run containers, none of them busy.
    func unallocated() -> [InstanceTypeName: Int] {
        var unallocated: [InstanceTypeName: Int] = [:]
        var creating: [InstanceTypeName: Int] = [:]
        var oldestCreate: [InstanceTypeName: PoolInstant] = [:]
        for pending in self.creating.values {
            let name = pending.type.name
            creating[name, default: 0] += 1
            if let oldest = oldestCreate[name], oldest < pending.startedAt { continue }
            oldestCreate[name] = pending.startedAt
        }
        for worker in self.workers.values {
            let machine = worker.machine
            guard machine.state != .shutdown, machine.state != .running, machine.idleBehavior == .run,
                !machine.runners.contains(stage: .running)
            else { continue }
            let name = worker.type.name
            unallocated[name, default: 0] += 1
            // An unknown worker that appeared after a create of its type started is probably that create,
            // listed before the create call returned: count it once.
            if machine.state == .unknown, let oldest = oldestCreate[name], creating[name, default: 0] > 0,
                oldest < machine.appeared
            {
                creating[name, default: 0] -= 1
            }
        }
        for (name, count) in creating where count > 0 { unallocated[name, default: 0] += count }
        return unallocated
    }

    /// Whether a create is not expected to work now (quota error hold, or `MaxInstances` reached).
    func atQuota() -> Bool {
        self.holds.atQuota(
            instanceCount: self.workers.count + self.creating.count,
            maxInstances: self.configuration.maxInstances,
            at: self.now
        )
    }

    /// Whether creates of `type` are held by a capacity error (of the type, its quota group, or all).
    func atCapacity(_ type: InstanceType) -> Bool {
        self.holds.atCapacity(type, quotaGroup: self.instanceSet.quotaGroup(for: type), at: self.now)
            || self.isQuarantined(type.name)
    }

    /// Worker `id`'s machine, as it is now.
    func machine(of id: InstanceID) -> Machine? { self.workers[id]?.machine }

    /// Whether any worker has a probe in flight.
    func anyProbing() -> Bool { self.workers.values.contains { $0.machine.probing } }

    /// The number of workers in each state, once the first cloud list has been applied.
    func countWorkers() async -> [WorkerState: Int] {
        if !self.loaded {
            await withCheckedContinuation { self.loadedWaiters.append($0) }
        }
        var counts: [WorkerState: Int] = [:]
        for worker in self.workers.values { counts[worker.machine.state, default: 0] += 1 }
        return counts
    }

    /// Every container with a runner on a worker (`nil`), and every container whose runner ended (when),
    /// until ``forgetContainer(_:)``.
    func running() -> [ContainerUUID: Timestamp?] {
        var result: [ContainerUUID: Timestamp?] = [:]
        for worker in self.workers.values {
            for uuid in worker.machine.runners.byUUID.keys { result[uuid] = .some(nil) }
        }
        for (uuid, exitedAt) in self.exited { result[uuid] = .some(exitedAt) }
        return result
    }

    // MARK: - Operator requests

    /// Sets a worker's idle behaviour (persisted in its tags).
    public func setIdleBehavior(_ id: InstanceID, _ behavior: IdleBehavior) throws(WorkerPoolError) {
        guard self.workers[id] != nil else { throw Self.notFound(id) }
        self.logger.info(
            "Idle behaviour set",
            metadata: ["instance.id": "\(id)", "instance.idleBehavior": "\(behavior.rawValue)"]
        )
        self.perform(self.withMachine(id) { $0.setIdleBehavior(behavior, at: self.now) } ?? [], on: id)
    }

    /// Destroys an instance now, whatever it is doing; its containers are abandoned.
    public func killInstance(_ id: InstanceID, reason: String) throws(WorkerPoolError) {
        guard self.workers[id] != nil else { throw Self.notFound(id) }
        self.logger.info("Instance kill requested", metadata: ["instance.id": "\(id)", "kill.reason": "\(reason)"])
        self.perform(self.withMachine(id) { $0.kill(at: self.now) } ?? [], on: id)
    }

    /// Shuts down one booting (else idle) worker of `type` that is not held; `false` if there is none.
    public func shutdown(_ type: InstanceTypeName) -> Bool {
        let now = self.now
        for state in [WorkerState.booting, .idle] {
            let candidates = self.workers.filter { $0.value.type.name == type && $0.value.machine.state == state }
            for id in candidates.keys.sorted() {
                guard let actions = self.withMachine(id, { $0.shutdownIfUnneeded(at: now) }) ?? nil else { continue }
                self.perform(actions, on: id)
                return true
            }
        }
        return false
    }

    static func notFound(_ id: InstanceID) -> WorkerPoolError {
        WorkerPoolError(code: .instanceNotFound, message: "instance \(id) not found")
    }

    // MARK: - Machines and actions

    /// Applies `body` to the machine of worker `id`; `nil` if there is no such worker.
    ///
    /// When the machine records the worker busy, the wall-clock time is read here, as the event happens.
    ///
    /// With `markingOnlyAVisibleChange`, the worker's scheduling view is recomputed only when `body` changed what
    /// it shows (the phase with its runners, the idle behaviour, the last container): for a probe, which at a busy
    /// pool comes every `ProbeInterval` for every worker and mostly changes only the machine's probe and busy
    /// times. The machine counts the writes of those (``WorkerStateMachine/visibleChanges``), so telling costs two
    /// reads of a counter, whatever the runner table holds.
    func withMachine<T>(
        _ id: InstanceID,
        markingOnlyAVisibleChange: Bool = false,
        _ body: (inout Machine) -> T
    ) -> T? {
        guard let worker = self.workers[id] else { return nil }
        return self.withMachine(of: worker, id, markingOnlyAVisibleChange: markingOnlyAVisibleChange, body)
    }

    /// ``withMachine(_:markingOnlyAVisibleChange:_:)`` for a worker already in hand (`worker` is `workers[id]`): the
    /// probe path, which at a busy pool runs for every worker every `ProbeInterval`, looks each worker up once.
    func withMachine<T>(
        of worker: Worker,
        _ id: InstanceID,
        markingOnlyAVisibleChange: Bool = false,
        _ body: (inout Machine) -> T
    ) -> T {
        // In place: a copy out and back would copy the machine's runner tables on every change.
        let (result, busyChanged, visiblyChanged) = Self.change(
            &worker.machine,
            markingOnlyAVisibleChange: markingOnlyAVisibleChange,
            body
        )
        if busyChanged { worker.busyAt = self.wallClock() }
        if visiblyChanged { self.schedulingViews.markDirty(id) }
        return result
    }

    /// Applies `body` to `machine`; whether that changed its busyness and what a scheduling view shows (always
    /// `true` unless `markingOnlyAVisibleChange`). Static, with the machine passed in place: the pool is compiled
    /// generic over its instances, and there each property read of `worker.machine` copied the machine whole first
    /// (four copies per probe).
    private static func change<T>(
        _ machine: inout Machine,
        markingOnlyAVisibleChange: Bool,
        _ body: (inout Machine) -> T
    ) -> (result: T, busyChanged: Bool, visiblyChanged: Bool) {
        let before = markingOnlyAVisibleChange ? machine.visibleChanges : nil
        let busy = machine.busy
        let result = body(&machine)
        return (result, machine.busy != busy, before == nil || machine.visibleChanges != before)
    }

    /// The state of a worker's machine, read in place (see ``change(_:markingOnlyAVisibleChange:_:)``).
    static func state(of machine: inout Machine) -> WorkerState { machine.state }

    /// The idle behaviour of a worker's machine, read in place (see ``change(_:markingOnlyAVisibleChange:_:)``).
    static func idleBehavior(of machine: inout Machine) -> IdleBehavior { machine.idleBehavior }

    /// Records that the runner of `uuid` ended at `time`.
    func runnerExited(_ uuid: ContainerUUID, at time: Timestamp) {
        self.exited[uuid] = time
        self.schedulingViews.exitedChanged(uuid, to: time)
    }

    /// Forgets that the runner of `uuid` ended; whether it had.
    func forgetExited(_ uuid: ContainerUUID) -> Bool {
        guard self.exited.removeValue(forKey: uuid) != nil else { return false }
        self.schedulingViews.exitedChanged(uuid, to: nil)
        return true
    }

    /// Performs what a worker's machine decided.
    func perform(_ actions: [Machine.Action], on id: InstanceID) {
        for action in actions {
            switch action {
            case .destroyInstance(let reason):
                self.destroy(id, reason: reason)
            case .reportBootOutcome(let outcome):
                self.metrics.bootOutcomes[outcome]?.increment()
                self.bootOutcome(outcome, of: id)
            case .saveTags:
                self.saveTags(id)
            case .notifyScheduler:
                self.notify()
            case .startRunner(let uuid):
                self.startRunner(uuid, on: id)
            case .adoptRunner(let uuid):
                self.logger.info(
                    "Runner adopted",
                    metadata: ["instance.id": "\(id)", "container.uuid": "\(uuid)"]
                )
                self.record(.adopt, instance: id, container: uuid, reason: "runner left by a previous dispatcher")
            case .runnerEnded(let uuid):
                self.runnerExited(uuid, at: self.wallClock())
                self.record(.runnerEnded, instance: id, container: uuid, reason: "runner no longer listed")
                self.logger.info("Runner ended", metadata: ["instance.id": "\(id)", "container.uuid": "\(uuid)"])
            case .sendTerm(let uuid):
                self.sendTerm(uuid, on: id)
            case .scheduleKillTick(let uuid, after: let delay):
                self.scheduleKillTick(uuid, on: id, at: self.now.advanced(by: delay))
            case .observeTimeToReady(let duration):
                self.metrics.timeToReady.recordNanoseconds(duration.nanoseconds)
            }
        }
    }

    private func destroy(_ id: InstanceID, reason: ShutdownReason) {
        guard let worker = self.workers[id] else { return }
        self.logger.info(
            "Instance shutting down",
            metadata: [
                "instance.id": "\(id)", "instance.type": "\(worker.type.name)", "shutdown.reason": "\(reason.rawValue)",
            ]
        )
        self.recordShutdown(id, worker, reason: reason)
        let instance = worker.instance
        let logger = self.logger
        self.spawn {
            do {
                try await instance.destroy()
            } catch {
                logger.warning(
                    "Instance destroy failed",
                    metadata: ["instance.id": "\(id)", "error": "\(error)"]
                )
            }
        }
    }

    /// The tags the instance should carry: its listed tags with the current type and idle behaviour.
    func desiredTags(_ worker: Worker) -> InstanceTags {
        var tags = worker.tags
        tags[self.configuration.tagKey(.instanceType)] = worker.type.name.rawValue
        tags[self.configuration.tagKey(.idleBehavior)] = worker.machine.idleBehavior.rawValue
        return tags
    }

    /// Saves the type and idle-behaviour tags if the instance does not carry them yet.
    func saveTags(_ id: InstanceID) {
        guard let worker = self.workers[id] else { return }
        self.saveTags(worker, id)
    }

    /// ``saveTags(_:)`` for a worker in hand (`worker` is `workers[id]`).
    func saveTags(_ worker: Worker, _ id: InstanceID) {
        // What every cloud list asks of every worker, answered without building the desired tags: they are the
        // instance's own with these two set, so equal to them exactly when the two already hold these values.
        let typeKey = self.configuration.tagKey(.instanceType)
        let behaviorKey = self.configuration.tagKey(.idleBehavior)
        if worker.tags[typeKey] == worker.type.name.rawValue
            && worker.tags[behaviorKey] == Self.idleBehavior(of: &worker.machine).rawValue
        {
            return
        }
        let tags = self.desiredTags(worker)
        guard tags != worker.tags, tags != worker.requestedTags else { return }
        worker.requestedTags = tags
        let instance = worker.instance
        let logger = self.logger
        self.spawn {
            var failed = false
            do {
                try await instance.setTags(tags)
            } catch {
                failed = true
                logger.warning("Instance tags not saved", metadata: ["instance.id": "\(id)", "error": "\(error)"])
            }
            await self.tagsSaved(id, tags, failed: failed)
        }
    }

    private func tagsSaved(_ id: InstanceID, _ tags: InstanceTags, failed: Bool) {
        guard let worker = self.workers[id], worker.requestedTags == tags else { return }
        if failed {
            worker.requestedTags = nil
        }
        self.notify()
    }
}

/// The runner to deploy: its bytes and MD5, or none (use `CrunchRunCommand`).
struct RunnerBinary: Sendable {
    var data: [UInt8]?
    var md5Hex: String
    var command: String
}
