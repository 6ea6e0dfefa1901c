public import CloudDriver
public import DispatchModel
public import Logging
import Simulation

/// An in-memory cloud for tests, chaos runs, benchmarks and what-if simulation (the `simulated` driver).
///
/// Instances cost a small struct each in one dictionary that this actor owns, and they answer the
/// runner protocol in memory (through ``SimulatedCloud/executor(for:)``, a `RemoteExecutor`), so ten thousand of them fit
/// in one process. Behaviour — boot times, injected errors, quota, capacity, broken instances, runner
/// crashes, stale locks, container run times and exit codes — comes from ``SimulatedCloudParameters``;
/// every random choice comes from one generator, in call order, so a seeded run repeats exactly.
///
/// Time comes from the clock `C`. State always reflects the clock's current time: every call first
/// processes what has come due (containers that ended). To report ends when nobody calls, run ``run()``
/// for as long as the cloud is in use, or call ``processDueEvents()`` after moving a manual clock. What
/// happens is reported on ``events``.
///
/// The methods every probe goes through (``processDueEvents()``, a command's run) are also compiled for the two clocks
/// the dispatcher uses (`@_specialize`: `VirtualClock` under `dispatch-cloud simulate`, `ContinuousClock` under
/// `serve`), with the seeded generator: generic code reads each clock instant and each nested type through
/// metadata look-ups, a twentieth of a simulated day at a thousand instances.
public actor SimulatedCloud<C: Clock, RNG: RandomNumberGenerator & Sendable>: InstanceSet
where C.Duration == Duration {
    public typealias Instance = SimulatedInstance<C, RNG>

    /// The behaviour of the cloud.
    public nonisolated let parameters: SimulatedCloudParameters
    /// What happens in the cloud, in order; finished by ``stop()``.
    ///
    /// The stream buffers without limit, so a long run should have one consumer reading it.
    public nonisolated let events: AsyncStream<SimulatedCloudEvent>

    struct VM {
        var number: Int
        /// ``SimulatedInstance/address``, made once (every cloud list reports it).
        var address: String
        var providerType: String
        var preemptible: Bool
        var tags: InstanceTags
        var secret: String?
        var bootedAt: C.Instant
        var unresponsiveAt: C.Instant?
        /// Whether a command has met the instance not answering (``SimulatedCloudEvent/Kind/instanceStoppedAnswering``).
        var refusedCommands = false
        var reportsBroken: Bool
        var runnerMissing: Bool
        /// Created during its type's `BrokenAtFirst` window: every command fails.
        var brokenOutright = false
        /// Deployed runner paths and the MD5 of what was written there.
        var deployed: [String: String] = [:]
        var runs: [ContainerUUID: Run] = [:] {
            didSet { self.listing = nil }
        }
        var staleLocks: [ContainerUUID] = [] {
            didSet { self.listing = nil }
        }
        /// The `--list` answer, kept until the runs or stale locks change: most probes find nothing new.
        var listing: [UInt8]?
        var nextPID = 1000
        /// When `destroy` was accepted; the instance is listed but not answering until it disappears.
        var shutdownSince: C.Instant?
    }

    struct Run {
        var sequence: UInt64
        var endsAt: C.Instant
        /// `nil` when the runner crashes at ``endsAt`` instead of the container exiting.
        var exitCode: Int32?
        var leavesStaleLock: Bool
        /// The runner's Running update is stored (``SimulatedCloud/acknowledgeStarted(_:on:)``).
        var acknowledged = false
        /// The run came due before it was acknowledged: it ends when it is.
        var endDue = false
        /// The container exited and the run waits for ``SimulatedCloud/finalized(_:on:)`` to leave the list.
        var exited = false
        /// When `--detach` started it.
        var startedAt: C.Instant
        /// The configuration `--detach` read on stdin (crunch-run's `ConfigData`).
        var configuration: [UInt8] = []
        /// The run was cut short at the container's `max_run_time` (``SimulatedCloud/limitRun(_:on:to:)``).
        var stoppedAtMaxRunTime = false
    }

    /// When a container run ends, or (with no container) a destroyed instance disappears; kept sorted
    /// latest first, so the next one is `last`.
    struct Deadline {
        var at: C.Instant
        var sequence: UInt64
        var instanceID: InstanceID
        var container: ContainerUUID?

        func isBefore(_ other: Deadline) -> Bool {
            self.at < other.at || (self.at == other.at && self.sequence < other.sequence)
        }
    }

    let clock: C
    private let epoch: C.Instant
    private let logger: Logger
    private let eventContinuation: AsyncStream<SimulatedCloudEvent>.Continuation
    var rng: RNG
    var vms: [InstanceID: VM] = [:]
    private var timeline: [Deadline] = []
    private var nextSequence: UInt64 = 0
    private var nextInstanceNumber = 1
    private var sleeper: (continuation: CheckedContinuation<Void, Never>, deadline: C.Instant)?
    private var sleepGeneration: UInt64 = 0
    private var stopped = false
    private var lastCalls: [String: C.Instant] = [:]
    private var hold = Hold()
    /// Run times and exit codes set for particular containers (``plan(_:runTime:exitCode:)``).
    var plans: [ContainerUUID: (runTime: Duration, exitCode: Int32)] = [:]
    /// The words of the run-probe commands seen (`RUNNER --list`, the same text for every instance), so a probe
    /// does not split its command or look at its runner's name again; at most a few entries.
    var listCommands: [String: [String]] = [:]
    /// The last run-probe command and its runner word (and whether that is a path): every probe of a pool sends the
    /// same text (usually the same string), compared before anything is hashed.
    var lastListCommand: (command: String, runner: (word: String, isPath: Bool))?
    /// The last content deployed and its MD5: every instance receives the same runner binary (tens of MB),
    /// which is hashed once, not once per instance.
    var lastDeployed: (content: [UInt8], md5: String)?

    /// Held `create` and `destroy` calls, as Arvados's stub driver's `HoldCloudOps`.
    struct Hold {
        var active = false
        var permits = 0
        var held: [CheckedContinuation<Void, Never>] = []
        var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    /// Makes a cloud that draws its random choices from `randomNumberGenerator` (``SimulatedCloudParameters/seed``
    /// is not used).
    public init(
        parameters: SimulatedCloudParameters,
        clock: C,
        randomNumberGenerator: RNG,
        logger: Logger
    ) {
        self.parameters = parameters
        self.clock = clock
        self.epoch = clock.now
        self.rng = randomNumberGenerator
        self.logger = logger
        (self.events, self.eventContinuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// The number of listed instances, shutting-down ones included (they count against `MaxInstances`).
    public var instanceCount: Int { self.vms.count }

    /// The number of commands instances have been asked to run (probes, starts, kills…).
    public internal(set) var commandCount = 0

    // MARK: InstanceSet

    public func create(
        type: InstanceType,
        imageID: ImageID,
        tags: InstanceTags,
        initCommand: String,
        publicKey: String?
    ) async throws(CloudError) -> Instance {
        await self.passHold()
        let now = self.clock.now
        self.fireDue(now)
        try self.injectFailure("Create", rate: self.parameters.errorRates.create, at: now)
        if self.parameters.maxInstances > 0 && self.vms.count >= self.parameters.maxInstances {
            self.emit(.errorInjected(operation: "Create", code: "\(CloudError.Code.quotaExceeded)"), nil, at: now)
            throw .quotaExceeded("simulated quota of \(self.parameters.maxInstances) instances reached")
        }
        if let rate = self.parameters.capacityErrors[type.providerType], self.chance(rate) {
            self.emit(
                .errorInjected(operation: "Create", code: "\(CloudError.Code.insufficientCapacity)"),
                nil,
                at: now
            )
            throw .insufficientCapacity(.instanceType(type), "simulated: no capacity for \(type.providerType)")
        }
        if type.preemptible, let rate = self.parameters.spotCapacityErrors[type.providerType], self.chance(rate) {
            self.emit(
                .errorInjected(operation: "Create", code: "\(CloudError.Code.insufficientCapacity)"),
                nil,
                at: now
            )
            throw .insufficientCapacity(
                .instanceType(type),
                "simulated: no spot capacity for \(type.providerType)"
            )
        }
        let number = self.nextInstanceNumber
        self.nextInstanceNumber += 1
        let id = InstanceID(rawValue: "sim\(number)")
        let bootedAt = now.advanced(by: self.sample(self.parameters.bootTime))
        let unresponsiveAt =
            self.chance(self.parameters.unresponsiveRate)
            ? bootedAt.advanced(by: self.sample(self.parameters.unresponsiveAfter)) : nil
        var vm = VM(
            number: number,
            address: Instance.address(of: id),
            providerType: type.providerType,
            preemptible: type.preemptible,
            tags: tags,
            secret: Self.instanceSecret(in: initCommand),
            bootedAt: bootedAt,
            unresponsiveAt: unresponsiveAt,
            reportsBroken: self.chance(self.parameters.brokenRate),
            runnerMissing: self.chance(self.parameters.runnerMissingRate),
            brokenOutright: self.parameters.brokenAtFirst[type.providerType].map {
                self.epoch.duration(to: now) < $0
            } ?? false
        )
        self.vms[id] = vm
        self.emit(.instanceCreated(providerType: type.providerType), id, at: now)
        self.logger.debug(
            "Simulated instance created",
            metadata: ["instance.id": "\(id)", "instance.providerType": "\(type.providerType)"]
        )
        return Self.instance(id, of: &vm, cloud: self, remoteUser: self.parameters.remoteUser)
    }

    @_specialize(where C == VirtualClock, RNG == SeededRandomNumberGenerator)
    @_specialize(where C == ContinuousClock, RNG == SeededRandomNumberGenerator)
    public func instances(tagged tags: InstanceTags) throws(CloudError) -> [Instance] {
        let now = self.clock.now
        self.fireDue(now)
        try self.injectFailure("List", rate: self.parameters.errorRates.list, at: now)
        // Each record read in place, through the dictionary's modify accessor (a list comes every `SyncInterval`, of
        // every instance; a record read through the values' getter is a copy of it, tables and all, made and freed:
        // a third of listing); the walk by index, so that no copy of the dictionary is held while a record is read.
        // The matches are sorted by number as plain integers (a sort of tuples holding a dictionary index, a nested
        // type of the generic cloud, ran unspecialized).
        var indices: [Dictionary<InstanceID, VM>.Index] = []
        var numbers: [Int] = []
        indices.reserveCapacity(self.vms.count)
        numbers.reserveCapacity(self.vms.count)
        var index = self.vms.startIndex
        while index != self.vms.endIndex {
            if let number = Self.number(of: &self.vms.values[index], ifTagged: tags) {
                numbers.append(number)
                indices.append(index)
            }
            self.vms.formIndex(after: &index)
        }
        let order = numbers.indices.sorted { numbers[$0] < numbers[$1] }
        var instances: [Instance] = []
        instances.reserveCapacity(order.count)
        let remoteUser = self.parameters.remoteUser
        for position in order {
            let index = indices[position]
            instances.append(
                Self.instance(self.vms.keys[index], of: &self.vms.values[index], cloud: self, remoteUser: remoteUser)
            )
        }
        return instances
    }

    /// `vm`'s number if it has every tag of `wanted`, else `nil` (`vm` in place: see ``instances(tagged:)``).
    private static func number(of vm: inout VM, ifTagged wanted: InstanceTags) -> Int? {
        vm.tags.carriesEvery(wanted) ? vm.number : nil
    }

    /// The instance of `vm`, whose ID is `id`, as created or listed (`vm` in place: see ``instances(tagged:)``).
    private static func instance(
        _ id: InstanceID,
        of vm: inout VM,
        cloud: SimulatedCloud,
        remoteUser: String
    ) -> Instance {
        SimulatedInstance(
            cloud: cloud,
            id: id,
            providerType: vm.providerType,
            tags: vm.tags,
            remoteUser: remoteUser,
            address: vm.address
        )
    }

    public nonisolated func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup {
        // As Arvados's stub driver: the first letter of the provider type, with `-p` for preemptible.
        InstanceQuotaGroup(rawValue: String(type.providerType.prefix(1)) + (type.preemptible ? "-p" : ""))
    }

    /// Finishes ``events`` and ends ``run()``; the cloud is not used afterwards.
    public func stop() {
        self.stopped = true
        self.releaseCloudOperations(Int.max)
        self.wake(nil)
        self.eventContinuation.finish()
    }

    // MARK: Holding operations

    /// Makes every later `create` and `destroy` wait until ``releaseCloudOperations(_:)`` lets it through,
    /// so a test can observe the pool while cloud calls are in flight.
    public func holdCloudOperations() {
        self.hold.active = true
    }

    /// Lets `count` held (or future) `create` and `destroy` calls through, oldest first.
    public func releaseCloudOperations(_ count: Int) {
        var remaining = count
        while remaining > 0, !self.hold.held.isEmpty {
            self.hold.held.removeFirst().resume()
            remaining -= 1
        }
        let (sum, overflow) = self.hold.permits.addingReportingOverflow(remaining)
        self.hold.permits = overflow ? Int.max : sum
    }

    /// The number of `create` and `destroy` calls waiting for ``releaseCloudOperations(_:)``.
    public var heldOperationCount: Int { self.hold.held.count }

    /// Suspends until at least `count` calls are held.
    public func waitForHeldOperations(_ count: Int) async {
        guard self.hold.held.count < count else { return }
        await withCheckedContinuation { self.hold.watchers.append((count, $0)) }
    }

    private func passHold() async {
        guard self.hold.active, !self.stopped else { return }
        if self.hold.permits > 0 {
            self.hold.permits -= 1
            return
        }
        await withCheckedContinuation { continuation in
            self.hold.held.append(continuation)
            let held = self.hold.held.count
            let ready = self.hold.watchers.filter { $0.count <= held }
            self.hold.watchers.removeAll { $0.count <= held }
            for watcher in ready { watcher.continuation.resume() }
        }
    }

    // MARK: Instances

    func destroy(_ id: InstanceID) async throws(CloudError) {
        await self.passHold()
        let now = self.clock.now
        self.fireDue(now)
        try self.injectFailure("Destroy", rate: self.parameters.errorRates.destroy, at: now)
        guard var vm = self.vms[id] else { throw .notFound("simulated instance \(id) does not exist") }
        guard vm.shutdownSince == nil else { return }
        // The containers die with the instance; nobody reports their end, as on a real VM.
        vm.runs = [:]
        vm.shutdownSince = now
        self.vms[id] = vm
        self.emit(.instanceDestroyed, id, at: now)
        self.schedule(
            Deadline(
                at: now.advanced(by: self.sample(self.parameters.shutdownTime)),
                sequence: self.makeSequence(),
                instanceID: id,
                container: nil
            )
        )
        self.fireDue(now)
        self.logger.debug("Simulated instance destroyed", metadata: ["instance.id": "\(id)"])
    }

    func setTags(_ tags: InstanceTags, on id: InstanceID) throws(CloudError) {
        let now = self.clock.now
        self.fireDue(now)
        try self.injectFailure("SetTags", rate: self.parameters.errorRates.setTags, at: now)
        guard self.vms[id] != nil else { throw .notFound("simulated instance \(id) does not exist") }
        self.vms[id]?.tags = tags
    }

    /// The secret the init command writes to `/var/run/arvados-instance-secret` (`echo -n "<secret>" >…`).
    static func instanceSecret(in initCommand: String) -> String? {
        for line in initCommand.split(separator: "\n") where line.contains("/var/run/arvados-instance-secret") {
            let words = ShellWords.split(String(line))
            if let echo = words.firstIndex(of: "echo"), echo + 2 < words.count, words[echo + 1] == "-n" {
                return words[echo + 2]
            }
        }
        return nil
    }

    // MARK: Time

    /// Processes everything that has come due by the clock's current time, reporting it on ``events``.
    @_specialize(where C == VirtualClock, RNG == SeededRandomNumberGenerator)
    @_specialize(where C == ContinuousClock, RNG == SeededRandomNumberGenerator)
    public func processDueEvents() {
        self.fireDue(self.clock.now)
    }

    /// Reports container ends as they come due, until cancelled or ``stop()``ped.
    ///
    /// Run it as a service for as long as the cloud is in use; without it, ends are processed only when
    /// the cloud is next called.
    public func run() async {
        while !Task.isCancelled && !self.stopped {
            self.fireDue(self.clock.now)
            let deadline = self.timeline.last?.at ?? self.clock.now.advanced(by: .seconds(3600))
            let clock = self.clock
            self.sleepGeneration &+= 1
            let generation = self.sleepGeneration
            // The timer is a child task, on the caller's executor; an earlier deadline or stop() wakes the
            // loop before it fires.
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    try? await clock.sleep(until: deadline, tolerance: nil)
                    await self.wake(generation)
                }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        if Task.isCancelled || self.stopped {
                            continuation.resume()
                        } else {
                            self.sleeper = (continuation, deadline)
                        }
                    }
                } onCancel: {
                    Task { await self.wake(nil) }
                }
                group.cancelAll()
            }
        }
    }

    /// Ends the run loop's wait of `generation` (`nil`: whichever is in progress).
    private func wake(_ generation: UInt64?) {
        if let generation, generation != self.sleepGeneration { return }
        guard let sleeper = self.sleeper else { return }
        self.sleeper = nil
        sleeper.continuation.resume()
    }

    func schedule(_ deadline: Deadline) {
        let index = self.timeline.partitioningIndex { !deadline.isBefore($0) }
        self.timeline.insert(deadline, at: index)
        if let sleeper = self.sleeper, deadline.at < sleeper.deadline {
            self.wake(nil)
        }
    }

    func makeSequence() -> UInt64 {
        defer { self.nextSequence += 1 }
        return self.nextSequence
    }

    @_specialize(where C == VirtualClock, RNG == SeededRandomNumberGenerator)
    @_specialize(where C == ContinuousClock, RNG == SeededRandomNumberGenerator)
    private func fireDue(_ now: C.Instant) {
        // The next deadline's time read alone: every command asks, and nearly always nothing is due (`last` would copy
        // the deadline, its instance ID and container, to compare one field).
        while !self.timeline.isEmpty && self.timeline[self.timeline.count - 1].at <= now {
            let next = self.timeline.removeLast()
            guard let container = next.container else {
                // A destroyed instance's end, or a preemption (``SimulatedCloudParameters/preemptions``).
                guard self.vms[next.instanceID] != nil else { continue }
                self.vms[next.instanceID] = nil
                self.emit(.instanceDisappeared, next.instanceID, at: next.at)
                continue
            }
            guard let run = self.vms[next.instanceID]?.runs[container], run.sequence == next.sequence else { continue }
            self.end(container, on: next.instanceID, at: next.at)
        }
    }

    /// Takes an instance away as a spot interruption does: it leaves the list at once, with whatever runs on it,
    /// and nobody asked for it (reported as ``SimulatedCloudEvent/Kind/instanceDisappeared``).
    public func preempt(_ id: InstanceID) {
        guard self.vms[id] != nil else { return }
        self.vms[id] = nil
        self.emit(.instanceDisappeared, id, at: self.clock.now)
    }

    /// Ends a run that came due: the container exits or its runner crashes.
    ///
    /// With `WaitsForRunnerUpdates`, a run whose start was not acknowledged yet ends only once it is, and a
    /// container that exited stays listed until finalized.
    private func end(_ container: ContainerUUID, on id: InstanceID, at instant: C.Instant) {
        guard var vm = self.vms[id], var run = vm.runs[container] else { return }
        let handshake = self.parameters.waitsForRunnerUpdates
        if handshake && !run.acknowledged {
            run.endDue = true
            vm.runs[container] = run
            self.vms[id] = vm
            return
        }
        let ending: SimulatedCloudEvent.Kind? =
            run.stoppedAtMaxRunTime
            ? .maxRunTimeExceeded(container) : run.exitCode.map { .containerExited(container, exitCode: $0) }
        if let ending, handshake {
            // Still listed, as a real runner is until it has stored the final state.
            run.exited = true
            vm.runs[container] = run
            self.vms[id] = vm
            self.emit(ending, id, at: instant)
            return
        }
        vm.runs[container] = nil
        if let ending {
            self.emit(ending, id, at: instant)
        } else {
            self.emit(.runnerCrashed(container), id, at: instant)
        }
        if run.leavesStaleLock {
            vm.staleLocks.append(container)
            self.emit(.lockLeftStale(container), id, at: instant)
        }
        self.vms[id] = vm
    }

    /// With `WaitsForRunnerUpdates`, tells the cloud that the runner's Running update for a container was
    /// stored (or refused): from now on its run may end, and one that came due meanwhile ends now.
    public func acknowledgeStarted(_ uuid: ContainerUUID, on id: InstanceID) {
        guard var run = self.vms[id]?.runs[uuid], !run.acknowledged else { return }
        run.acknowledged = true
        self.vms[id]?.runs[uuid] = run
        if run.endDue { self.end(uuid, on: id, at: self.clock.now) }
    }

    /// With `WaitsForRunnerUpdates`, ends the run of a container that exited: it leaves `--list` (and leaves
    /// its lock behind if it was to). Nothing happens for a container that has not exited or is not there.
    public func finalized(_ uuid: ContainerUUID, on id: InstanceID) {
        guard var vm = self.vms[id], let run = vm.runs[uuid], run.exited else { return }
        vm.runs[uuid] = nil
        let now = self.clock.now
        if run.leavesStaleLock {
            vm.staleLocks.append(uuid)
            self.emit(.lockLeftStale(uuid), id, at: now)
        }
        self.vms[id] = vm
    }

    /// Sets the run time and exit code of a container's runs, instead of sampling them (a workload replayed
    /// by a simulation): every later run of it lasts `runTime` and exits with `exitCode` (a configured runner
    /// crash may still cut it short).
    public func plan(_ uuid: ContainerUUID, runTime: Duration, exitCode: Int32) {
        self.plans[uuid] = (runTime, exitCode)
    }

    /// An instance's tags, while it is listed.
    public func tags(of id: InstanceID) -> InstanceTags? { self.vms[id]?.tags }

    /// Forgets a container's plan (it has ended for good).
    public func forgetPlan(_ uuid: ContainerUUID) {
        self.plans[uuid] = nil
    }

    /// The configuration a container's `--detach` read on stdin (crunch-run's `ConfigData`: the API address
    /// and token among it), while its run is listed; `nil` otherwise.
    public func runnerConfiguration(of uuid: ContainerUUID, on id: InstanceID) -> [UInt8]? {
        self.vms[id]?.runs[uuid]?.configuration
    }

    /// Cuts a run short at `limit` after its start, as a runner's watchdog stops a container at its
    /// `max_run_time`: if the run would last longer, it ends then with ``SimulatedCloudEvent/Kind/maxRunTimeExceeded(_:)``
    /// instead of exiting or crashing. Nothing happens to a shorter run or one that is not there.
    public func limitRun(_ uuid: ContainerUUID, on id: InstanceID, to limit: Duration) {
        guard var run = self.vms[id]?.runs[uuid], !run.exited, limit >= .zero else { return }
        let deadline = run.startedAt.advanced(by: limit)
        guard deadline < run.endsAt else { return }
        run.sequence = self.makeSequence()
        run.endsAt = deadline
        run.stoppedAtMaxRunTime = true
        self.vms[id]?.runs[uuid] = run
        self.schedule(Deadline(at: deadline, sequence: run.sequence, instanceID: id, container: uuid))
        self.fireDue(self.clock.now)
    }

    /// Ends a run without a report, as a runner stops when the API refuses its move to Running (the container
    /// was cancelled or unlocked meanwhile): it leaves `--list` and leaves no lock behind.
    public func abandon(_ uuid: ContainerUUID, on id: InstanceID) {
        self.vms[id]?.runs[uuid] = nil
    }

    // MARK: Randomness and events

    func emit(_ kind: SimulatedCloudEvent.Kind, _ instanceID: InstanceID?, at instant: C.Instant) {
        self.eventContinuation.yield(
            SimulatedCloudEvent(kind: kind, instanceID: instanceID, elapsed: self.epoch.duration(to: instant))
        )
    }

    /// True with probability `rate`; draws nothing when `rate` is zero.
    func chance(_ rate: Double) -> Bool {
        rate > 0 && Double.random(in: 0..<1, using: &self.rng) < rate
    }

    func sample(_ range: SimulatedCloudParameters.DurationRange) -> Duration {
        self.sample(from: range.min, to: range.max)
    }

    func sample(from min: Duration, to max: Duration) -> Duration {
        let span = (max - min).nanoseconds
        guard span > 0 else { return min }
        return min + .nanoseconds(Int64.random(in: 0...span, using: &self.rng))
    }

    func sampleExitCode() -> Int32 {
        let weighted = self.parameters.exitCodes.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        let total = weighted.reduce(0) { $0 + $1.value }
        var point = Double.random(in: 0..<total, using: &self.rng)
        for (code, weight) in weighted {
            if point < weight { return code }
            point -= weight
        }
        return weighted.last?.key ?? 0
    }

    private func injectFailure(_ operation: String, rate: Double, at now: C.Instant) throws(CloudError) {
        if let spacing = self.parameters.minTimeBetweenCalls[operation], spacing > .zero {
            if let last = self.lastCalls[operation], now < last.advanced(by: spacing) {
                self.emit(.errorInjected(operation: operation, code: "\(CloudError.Code.rateLimited)"), nil, at: now)
                throw .rateLimited(
                    retryAfter: now.duration(to: last.advanced(by: spacing)),
                    "simulated: \(operation) called again within \(spacing)"
                )
            }
            self.lastCalls[operation] = now
        }
        if self.chance(self.parameters.rateLimitErrorRate) {
            self.emit(.errorInjected(operation: operation, code: "\(CloudError.Code.rateLimited)"), nil, at: now)
            throw .rateLimited(retryAfter: self.parameters.rateLimitRetryAfter, "simulated rate limit on \(operation)")
        }
        if self.chance(rate) {
            self.emit(.errorInjected(operation: operation, code: "\(CloudError.Code.other)"), nil, at: now)
            throw .other("simulated \(operation) failure")
        }
    }
}

extension SimulatedCloud where RNG == SeededRandomNumberGenerator {
    /// Makes a cloud seeded with ``SimulatedCloudParameters/seed``, or with a random seed that is logged.
    public init(parameters: SimulatedCloudParameters, clock: C, logger: Logger) {
        let seed = parameters.seed ?? UInt64.random(in: 0...UInt64.max)
        if parameters.seed == nil {
            logger.info("Simulated cloud seeded at random", metadata: ["simulation.seed": "\(seed)"])
        }
        self.init(
            parameters: parameters,
            clock: clock,
            randomNumberGenerator: SeededRandomNumberGenerator(seed: seed),
            logger: logger
        )
    }
}
