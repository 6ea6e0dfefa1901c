import ArvadosAPI
import CloudDriver
import CloudDriverSimulated
import ContainerAPIServer
import ContainerQueue
import DispatchCloud
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import Metrics
import Scheduler
import SimulatedRunner
import Simulation
import Synchronization
import WorkerPool

/// The whole dispatcher (its own queue, scheduling loop, worker pool and worker state machines, assembled as
/// `dispatch-cloud simulate` assembles them) over the simulated cloud and the in-memory container API, on the
/// virtual clock, with faults injected and the dispatcher killed and started again.
///
/// The API, the cloud and the runners (``SimulatedRunnerBridge``) live for the whole run. A restart cancels
/// every task of the dispatcher at once — queue, loop, pool and everything they spawned, with no graceful
/// shutdown: `kill -9` in one process — and builds a new one on the same API and cloud. The
/// ``InvariantChecker`` reads every record the API commits and every event of the cloud.
struct VirtualChaos: Sendable {
    typealias Cloud = SimulatedCloud<VirtualClock, SeededRandomNumberGenerator>
    typealias Instances = DecoratedInstanceSet<QuotaWindowInstanceSet<Cloud>, VirtualClock>

    /// What goes wrong, and how much work there is.
    struct Options: Sendable {
        var containers = 2000
        var restarts = 5
        var seed: UInt64 = 20_261_203
        /// The instance types' VCPUs (`type<i>`: i VCPUs, 2 GiB per VCPU, price i × 0.1).
        var instanceTypes = [1, 2, 3, 4, 6, 8, 16]
        /// A container's VCPUs and RAM from its number and the run's random generator.
        var shape: Shape = .mixed
        /// Containers arrive evenly over this much time from the start.
        var arrivalSpan = Duration.seconds(3600)
        var runTime = SimulatedCloudParameters.DurationRange(min: .seconds(120), max: .seconds(900))
        var cloudErrorRate = 0.2
        /// Provider types whose creates fail for lack of capacity, with the chance of it.
        var capacityErrors: [String: Double] = ["providertype6": 1, "providertype3": 0.5]
        var brokenAtFirst: [String: Duration] = ["providertype4": .seconds(900)]
        var brokenRate = 0.03
        var unresponsiveRate = 0.03
        var runnerMissingRate = 0.03
        var runnerCrashRate = 0.01
        var staleLockRate = 0.05
        /// The cloud's own quota of instances (0: none).
        var cloudQuota = 80
        /// `CloudVMs.MaxInstances`.
        var maxInstances = 100
        /// The extra quota that comes and goes: creates fail with `quotaExceeded` for `closed` once in every
        /// `period`, at a random point of it (at its start when `aligned`), until `until` (from the start).
        var quotaWindows: QuotaWindows? = QuotaWindows(
            period: .seconds(300),
            closed: .seconds(60),
            until: .seconds(86400)
        )
        /// Instances with running containers deleted behind the dispatcher's back (spot reclaims): one every
        /// `preemptionEvery` on average, none when `nil`.
        var preemptionEvery: Duration? = .seconds(240)
        /// Bursts of 503 from the API to the dispatcher, each `burstLength` long, spread over the run.
        var bursts503 = 2
        var burstLength = Duration.seconds(90)
        var maxDispatchAttempts = 5
        /// The run is stuck if it is not over by then (virtual time).
        var virtualLimit = Duration.seconds(3 * 86400)
        /// `VCHAOS_LOG_LEVEL=info` shows what the dispatcher does, to study a failure.
        var logLevel = Logger.Level.critical
    }

    struct QuotaWindows: Sendable {
        var period: Duration
        var closed: Duration
        var until: Duration
        var aligned = false
    }

    enum Shape: Sendable {
        /// 1–8 VCPUs (one in twenty 16), 1–3 GiB per VCPU at most the type's.
        case mixed
        /// 6 VCPUs and 1 GiB: one per 8-VCPU instance (the quota-churn shape, Arvados #20457).
        case sixVCPUs
    }

    /// What happened.
    struct Report: Sendable {
        var uuids: [ContainerUUID] = []
        var final: [ContainerUUID: Container] = [:]
        var events: [SimulatedCloudEvent] = []
        var updates: [SimulatedRunnerUpdate] = []
        var violations: [String] = []
        var checks = 0
        var restarts = 0
        /// When each restart came (virtual time, seconds).
        var restartTimes: [Int64] = []
        var preemptions = 0
        var refused503 = 0
        var quotaWindowRefusals = 0
        /// The minutes (from the start) in which a create met a quota error, injected or the cloud's.
        var quotaErrorMinutes: Set<Int> = []
        var instancesLeft = 0
        var virtualTime = Duration.zero
        var refusedAtCreate = 0
        /// Each container's committed changes: "<seconds>s <state> <lock_count>".
        var histories: [ContainerUUID: [String]] = [:]
        /// The minutes in which the dispatcher asked the cloud for an instance.
        var createMinutes: Set<Int> = []
        var stuck: String?
        var jobs: UInt64 = 0
        /// Jobs that came back from another thread (0 when the run is repeatable).
        var outsideJobs: UInt64 = 0
    }

    var options: Options

    func yaml() -> String {
        let types = self.options.instanceTypes.map { i in
            "      type\(i): {ProviderType: providertype\(i), VCPUs: \(i), RAM: \(i * 2)GiB, IncludedScratch: \(i * 10)GiB, Price: \(Double(i) * 0.1)}"
        }
        return """
            Clusters:
              zzzzz:
                SystemRootToken: vchaos-root-token
                Services:
                  Controller:
                    ExternalURL: http://simulation.invalid
                Containers:
                  ReserveExtraRAM: 0
                  LocalKeepBlobBuffersPerVCPU: 0
                  MaxDispatchAttempts: \(self.options.maxDispatchAttempts)
                  StaleLockTimeout: 1m
                  MaximumPriceFactor: 1.5
                  CloudVMs:
                    Driver: simulated
                    BootProbeCommand: "true"
                    ImageID: test-image
                    MaxInstances: \(self.options.maxInstances)
                    PollInterval: 10s
                    ProbeInterval: 10s
                    SyncInterval: 1m
                    TimeoutIdle: 1m
                    TimeoutBooting: 5m
                    TimeoutProbe: 3m
                    TimeoutShutdown: 1m
                    TimeoutSignal: 5s
                    TimeoutTERM: 1m
                    TimeoutStaleRunLock: 1m
                    DeployRunnerBinary: ""
                InstanceTypes:
            \(types.joined(separator: "\n"))

            """
    }

    func parameters() -> SimulatedCloudParameters {
        var parameters = SimulatedCloudParameters()
        parameters.bootTime = .init(min: .seconds(30), max: .seconds(180))
        parameters.shutdownTime = .init(min: .seconds(5), max: .seconds(60))
        let rate = self.options.cloudErrorRate
        parameters.errorRates = .init(create: rate, list: rate, destroy: rate)
        parameters.maxInstances = self.options.cloudQuota
        parameters.capacityErrors = self.options.capacityErrors
        parameters.brokenAtFirst = self.options.brokenAtFirst
        parameters.brokenRate = self.options.brokenRate
        parameters.unresponsiveRate = self.options.unresponsiveRate
        parameters.unresponsiveAfter = .init(min: .zero, max: .seconds(1800))
        parameters.runnerMissingRate = self.options.runnerMissingRate
        parameters.runnerCrashRate = self.options.runnerCrashRate
        parameters.staleLockRate = self.options.staleLockRate
        parameters.runTime = self.options.runTime
        parameters.exitCodes = [0: 9, 1: 1]
        parameters.waitsForRunnerUpdates = true
        return parameters
    }

    /// Runs the chaos on its own executor and returns what happened.
    func run() async throws -> Report {
        let config = try ClusterConfig.load(yaml: self.yaml(), sourceName: "virtual-chaos").config
        let executor = SimulationExecutor()
        let jitter = JitterSource(seed: self.options.seed)
        var report = await executor.run {
            await Jitter.$source.withValue(jitter) { await self.simulate(config: config, clock: executor.clock) }
        }
        report.jobs = executor.jobCount
        report.outsideJobs = executor.outsideJobCount
        return report
    }

    /// Shared between the run's tasks; read and written on the simulation's thread only, in a repeatable
    /// order.
    final class Shared: Sendable {
        struct State {
            var queue: ContainerQueue<VirtualClock>?
            var refusingUntil = Duration.zero
            var running: [InstanceID: Set<ContainerUUID>] = [:]
            var quotaErrorMinutes: Set<Int> = []
            var created: [ContainerUUID] = []
            var refusedAtCreate = 0
            var preemptions = 0
            var histories: [ContainerUUID: [String]] = [:]
            var createMinutes: Set<Int> = []
        }

        let state = Mutex(State())
    }

    func simulate(config: ClusterConfig, clock: VirtualClock) async -> Report {
        let options = self.options
        let epoch = Timestamp(secondsSince1970: 1_767_225_600)
        let wallClock: @Sendable () -> Timestamp = {
            let offset = clock.now.offset
            return Timestamp(
                secondsSince1970: epoch.secondsSince1970 + offset.components.seconds,
                nanoseconds: Int32(offset.components.attoseconds / 1_000_000_000)
            )
        }
        let logger = {
            var logger = Logger(label: "virtual-chaos")
            logger.logLevel = options.logLevel
            return logger
        }()
        let rootToken = config.systemRootToken.value
        let submitterToken = "vchaos-submitter-token"
        let shared = Shared()
        let checker = InvariantChecker(
            limits: .init(
                maxInstances: min(options.maxInstances, options.cloudQuota > 0 ? options.cloudQuota : .max),
                lockedWithoutInstance: .seconds(1800),
                maxDispatchAttempts: options.maxDispatchAttempts
            )
        )

        let api = InMemoryContainerAPI(
            clusterID: config.clusterID,
            systemRootToken: rootToken,
            submitterTokens: [submitterToken],
            admission: config.instanceTypeChooser,
            maxDispatchAttempts: options.maxDispatchAttempts,
            wallClock: wallClock
        )
        let root = URL(string: "http://simulation.invalid/")!
        // The dispatcher's path to the API answers 503 during a burst; the runners' does not.
        let refusing = RefusingTransport(api) { clock.now.offset < shared.state.withLock { $0.refusingUntil } }
        let dispatcherClient = ArvadosClient(baseURL: root, token: rootToken, transport: refusing)
        let runnerClient = ArvadosClient(baseURL: root, token: rootToken, transport: api)

        var random = SeededRandomNumberGenerator(seed: options.seed)
        let cloud = Cloud(
            parameters: self.parameters(),
            clock: clock,
            randomNumberGenerator: SeededRandomNumberGenerator(seed: options.seed &+ 1),
            logger: logger
        )
        // The windows' start in each period.
        var windowStarts: [Duration] = []
        if let windows = options.quotaWindows {
            let slack = (windows.period - windows.closed).nanoseconds
            var start = Duration.zero
            while start < windows.until {
                let offset = windows.aligned || slack <= 0 ? 0 : Int64.random(in: 0..<slack, using: &random)
                windowStarts.append(start + .nanoseconds(offset))
                start += windows.period
            }
        }
        let quotaWindowed = QuotaWindowInstanceSet(cloud) { [windowStarts] in
            let now = clock.now.offset
            shared.state.withLock { _ = $0.createMinutes.insert(Int(now.components.seconds / 60)) }
            guard let windows = options.quotaWindows else { return false }
            guard now < windows.until else { return false }
            let period = Int(now.nanoseconds / windows.period.nanoseconds)
            guard period < windowStarts.count, now >= windowStarts[period],
                now < windowStarts[period] + windows.closed
            else { return false }
            shared.state.withLock { _ = $0.quotaErrorMinutes.insert(Int(now.components.seconds / 60)) }
            return true
        }
        let poolConfiguration: WorkerPool<Instances, VirtualClock>.Configuration
        do {
            poolConfiguration = try Dispatcher.poolConfiguration(
                config,
                instanceSetID: Dispatcher.instanceSetID(token: rootToken),
                publicKey: nil,
                runnerSearchDirectory: nil,
                deploysRunner: false
            )
        } catch {
            return Report(stuck: "pool configuration: \(error)")
        }
        let cloudVMs = config.containers.cloudVMs
        let metrics = NOOPMetricsHandler.instance

        /// One dispatcher process: its queue, pool and scheduling loop, each new.
        @Sendable func incarnation() -> (
            queue: ContainerQueue<VirtualClock>, pool: WorkerPool<Instances, VirtualClock>,
            scheduler: SchedulingLoop<VirtualClock>
        ) {
            let instances = quotaWindowed.decorated(
                maxCloudOpsPerSecond: cloudVMs.maxCloudOpsPerSecond,
                resourceTags: InstanceTags(),
                clock: clock,
                metricsFactory: metrics,
                logger: logger
            )
            let pool = WorkerPool(
                configuration: poolConfiguration,
                instanceSet: instances,
                clock: clock,
                logger: logger,
                makeExecutor: { listing in cloud.executor(for: listing.id) },
                wallClock: wallClock,
                metricsFactory: metrics
            )
            var queueConfiguration = ContainerQueue<VirtualClock>.Configuration()
            queueConfiguration.pollInterval = cloudVMs.pollInterval
            let queue = ContainerQueue(
                client: dispatcherClient,
                chooser: config.instanceTypeChooser,
                configuration: queueConfiguration,
                clock: clock,
                wallClock: wallClock,
                logger: logger,
                metricsFactory: metrics
            )
            let scheduler = SchedulingLoop(
                queue: QueueForScheduling(queue: queue),
                pool: PoolForScheduling(pool: pool),
                clock: clock,
                wallClock: wallClock,
                configuration: Dispatcher.schedulerConfiguration(config, quietAfter503: .seconds(60)),
                logger: logger,
                metricsFactory: metrics
            )
            return (queue, pool, scheduler)
        }

        let bridge = SimulatedRunnerBridge(
            cloud: cloud,
            connect: { _ in runnerClient },
            record: true,
            observe: { event in
                checker.observe(event)
                shared.state.withLock { state in
                    switch event.kind {
                    case .containerStarted(let uuid):
                        if let id = event.instanceID { state.running[id, default: []].insert(uuid) }
                    case .containerExited(let uuid, _), .runnerCrashed(let uuid), .containerKilled(let uuid, _),
                        .maxRunTimeExceeded(let uuid):
                        if let id = event.instanceID { state.running[id]?.remove(uuid) }
                    case .instanceDestroyed, .instanceDisappeared:
                        if let id = event.instanceID { state.running[id] = nil }
                    case .errorInjected(_, let code) where code == "\(CloudError.Code.quotaExceeded)":
                        state.quotaErrorMinutes.insert(Int(event.elapsed.components.seconds / 60))
                    default:
                        break
                    }
                }
            },
            backoff: { try? await clock.sleep(for: $0) }
        )

        // The restarts come at seeded random moments: after a random share of the containers has finished,
        // plus a random delay, so they land anywhere in a pass, a boot or a burst.
        let share = max(1, options.containers / (options.restarts + 1))
        let restartAfter = (0..<options.restarts).map { share * $0 + Int.random(in: 1...share, using: &random) }
        let restartDelays = (0..<options.restarts).map { _ in Duration.seconds(Int.random(in: 0..<120, using: &random))
        }
        let burstAfter = (0..<options.bursts503).map { (options.containers * ($0 + 1)) / (options.bursts503 + 1) }
        let arrivals = (0..<options.containers).map { _ in
            Duration.nanoseconds(Int64.random(in: 0...options.arrivalSpan.nanoseconds, using: &random))
        }.sorted()
        let shapes = (0..<options.containers).map { i in Self.shape(i, options.shape, &random) }
        let preemptionGaps = (0..<10_000).map { _ in
            Duration.seconds(
                Int.random(in: 1...(2 * Int(options.preemptionEvery?.components.seconds ?? 1)), using: &random)
            )
        }
        let (kills, killer) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .unbounded)
        var report = Report()

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await cloud.run() }
            group.addTask { await bridge.run() }
            // The API's change feed: to the checker, and pushed to whichever dispatcher is alive.
            group.addTask {
                for await change in api.changes {
                    checker.observe(change.containers, at: clock.now.offset)
                    let now = clock.now.offset.components.seconds
                    shared.state.withLock { state in
                        for container in change.containers {
                            state.histories[container.uuid, default: []].append(
                                "\(now)s \(container.state) \(container.lockCount)"
                            )
                        }
                    }
                    guard let queue = shared.state.withLock({ $0.queue }) else { continue }
                    let latest = await api.sequence
                    await queue.applyPushed(change.containers, complete: change.sequence == latest ? wallClock() : nil)
                }
            }
            // The dispatcher, started again after each kill.
            group.addTask {
                var killed = kills.makeAsyncIterator()
                for _ in 0...options.restarts {
                    let (queue, pool, scheduler) = incarnation()
                    shared.state.withLock { $0.queue = queue }
                    await withTaskGroup(of: Void.self) { process in
                        process.addTask { try? await pool.run() }
                        process.addTask { try? await queue.run() }
                        process.addTask { try? await scheduler.run() }
                        _ = await killed.next()
                        process.cancelAll()
                    }
                    shared.state.withLock { $0.queue = nil }
                }
            }
            // The submitters.
            group.addTask {
                for (index, arrival) in arrivals.enumerated() {
                    if arrival > clock.now.offset {
                        do { try await clock.sleep(until: VirtualClock.Instant(offset: arrival)) } catch { return }
                    }
                    let (vcpus, ram) = shapes[index]
                    let attributes: [String: JSONValue] = [
                        "command": .array([.string("true")]),
                        "container_image": .string("test-image"),
                        "output_path": .string("/out"),
                        "priority": .int(Int64(index % 20 + 1)),
                        "runtime_constraints": .object(["vcpus": .int(Int64(vcpus)), "ram": .int(ram)]),
                    ]
                    do throws(ContainerAPIError) {
                        let container = try await api.create(attributes, token: submitterToken)
                        shared.state.withLock { $0.created.append(container.uuid) }
                    } catch {
                        shared.state.withLock { $0.refusedAtCreate += 1 }
                    }
                }
            }
            // Spot reclaims: an instance running containers deleted behind the dispatcher's back.
            if options.preemptionEvery != nil {
                group.addTask {
                    var pick = SeededRandomNumberGenerator(seed: options.seed &+ 2)
                    for gap in preemptionGaps {
                        do { try await clock.sleep(for: gap) } catch { break }
                        let candidates = shared.state.withLock { state in
                            state.running.filter { !$0.value.isEmpty }.keys.sorted { $0.rawValue < $1.rawValue }
                        }
                        guard !candidates.isEmpty else { continue }
                        let victim = candidates[Int.random(in: 0..<candidates.count, using: &pick)]
                        for _ in 0..<10 {
                            if let instance = try? await cloud.instances(tagged: [:]).first(where: { $0.id == victim })
                            {
                                do {
                                    try await instance.destroy()
                                    shared.state.withLock { $0.preemptions += 1 }
                                    break
                                } catch {}
                            }
                            do { try await clock.sleep(for: .seconds(5)) } catch { break }
                        }
                    }
                }
            }
            // The run's conductor: restarts and 503 bursts as work finishes; the end once everything is done
            // and every instance gone.
            var restarts = 0
            var bursts = 0
            while true {
                do { try await clock.sleep(for: .seconds(10)) } catch { break }
                let finished = await api.count(in: .complete) + api.count(in: .cancelled)
                if restarts < restartAfter.count && finished >= restartAfter[restarts] {
                    do { try await clock.sleep(for: restartDelays[restarts]) } catch { break }
                    restarts += 1
                    report.restartTimes.append(clock.now.offset.components.seconds)
                    killer.yield()
                }
                if bursts < burstAfter.count && finished >= burstAfter[bursts] {
                    bursts += 1
                    let until = clock.now.offset + options.burstLength
                    shared.state.withLock { $0.refusingUntil = until }
                }
                let left = await cloud.instanceCount
                let refusedAtCreate = shared.state.withLock { $0.refusedAtCreate }
                if finished + refusedAtCreate == options.containers && left == 0 && restarts == restartAfter.count {
                    break
                }
                if clock.now.offset > options.virtualLimit {
                    report.stuck =
                        "not done after \(options.virtualLimit): \(finished) of \(options.containers) finished, \(left) instances, \(restarts) restarts"
                    break
                }
            }
            report.restarts = restarts
            killer.yield()
            killer.finish()
            group.cancelAll()
        }
        await cloud.stop()
        report.virtualTime = clock.now.offset
        report.instancesLeft = await cloud.instanceCount
        checker.finish(instancesLeft: report.instancesLeft, at: clock.now.offset)
        let (created, refusedAtCreate, preemptions) = shared.state.withLock {
            ($0.created, $0.refusedAtCreate, $0.preemptions)
        }
        report.uuids = created
        for uuid in created { report.final[uuid] = await api.container(uuid) }
        report.refusedAtCreate = refusedAtCreate
        report.preemptions = preemptions
        report.violations = checker.violations
        report.checks = checker.checks
        report.events = await bridge.recordedEvents
        report.updates = await bridge.recordedUpdates
        report.refused503 = refusing.refused
        report.quotaWindowRefusals = quotaWindowed.refused
        report.quotaErrorMinutes = shared.state.withLock { $0.quotaErrorMinutes }
        report.histories = shared.state.withLock { $0.histories }
        report.createMinutes = shared.state.withLock { $0.createMinutes }
        return report
    }

    /// A container's VCPUs and RAM.
    static func shape(_ index: Int, _ shape: Shape, _ random: inout SeededRandomNumberGenerator) -> (Int, Int64) {
        switch shape {
        case .sixVCPUs:
            return (6, 1 << 30)
        case .mixed:
            let vcpus = index % 20 == 0 ? 16 : Int.random(in: 1...8, using: &random)
            let mibPerVCPU = [512, 1024, 1900][Int.random(in: 0..<3, using: &random)]
            return (vcpus, Int64(vcpus * mibPerVCPU) << 20)
        }
    }
}
