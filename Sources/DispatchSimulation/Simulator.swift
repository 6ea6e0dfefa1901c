import ArvadosAPI
import CloudDriver
import CloudDriverSimulated
import ContainerAPIServer
import ContainerQueue
import DispatchCloud
public import DispatchConfig
import DispatchModel
import Foundation
import Logging
import Metrics
import Scheduler
import SimulatedRunner
import Simulation
import WorkerPool

/// Runs a workload through the dispatcher's own queue, planner, pool and worker state machines over the
/// simulated cloud, on a virtual clock, in this process.
///
/// What it decides is what `serve` decides with the same configuration: it assembles the same parts from
/// the same configuration (`Dispatcher`'s own mapping), changing only what is outside the dispatcher: the
/// cloud is the simulated one (its `DriverParameters` when the configuration's driver is `simulated`, else
/// its defaults), the container API is in memory (``InMemoryContainerAPI``, the embedded API's rules), the
/// runners are simulated (``SimulatedRunnerBridge``) and time is virtual (``SimulationExecutor``). Each
/// container runs for the run time and ends with the exit code its workload entry gives.
public struct Simulator: Sendable {
    /// What to report while a run goes on.
    public struct Progress: Sendable {
        public var simulated: Duration
        public var submitted: Int
        public var finished: Int
        public var total: Int
        public var instances: Int
    }

    public var config: ClusterConfig
    /// Names the configuration in the results (its file name).
    public var configurationName: String
    public var seed: UInt64
    /// Called on every sample (about 600 in a run).
    public var progress: (@Sendable (Progress) -> Void)?
    /// Called once at the end of a run with what the engine did (for benchmarks).
    public var statistics: (@Sendable (Statistics) -> Void)?

    /// How much work a run took, counted in events: what a benchmark reads to see where the time goes.
    public struct Statistics: Sendable, CustomStringConvertible {
        /// Jobs the simulation's executor ran (task resumptions).
        public var jobs: UInt64 = 0
        /// Sleeps on the virtual clock.
        public var sleeps: UInt64 = 0
        /// Planning passes, and how many of them reused the previous plan.
        public var passes = 0
        public var reusedPlans = 0
        /// Requests the in-memory container API answered.
        public var apiRequests = 0
        /// Commands run on simulated instances (probes, starts, kills).
        public var commands = 0

        public init() {}

        public var description: String {
            "jobs \(self.jobs), sleeps \(self.sleeps), passes \(self.passes) (\(self.reusedPlans) reused), "
                + "API requests \(self.apiRequests), instance commands \(self.commands)"
        }
    }
    /// The run stops, unfinished, at this much simulated time after the last submission.
    public var maxTimeAfterLastSubmission = Duration.seconds(30 * 86400)

    public init(config: ClusterConfig, configurationName: String, seed: UInt64) {
        self.config = config
        self.configurationName = configurationName
        self.seed = seed
    }

    /// The wall-clock time the simulation starts at: 2026-01-01T00:00:00Z, so results repeat.
    static let epoch = Timestamp(secondsSince1970: 1_767_225_600)
    static let submitterToken = "simulation-submitter-token"

    /// Runs `workload` and returns what happened.
    public func run(_ workload: Workload) async throws(SimulationError) -> SimulationResult {
        var config = self.config
        if config.systemRootToken.isEmpty { config.systemRootToken = "simulation-root-token" }
        if config.services.controller.externalURL.isEmpty {
            config.services.controller.externalURL = "https://simulation.invalid"
        }
        var parameters = SimulatedCloudParameters()
        if config.containers.cloudVMs.driver == "simulated" {
            do throws(DriverConfigurationError) {
                parameters = try SimulatedCloudParameters(config.containers.cloudVMs.driverParameters.raw)
            } catch {
                throw SimulationError(
                    "Containers.CloudVMs.DriverParameters.\(error.key): \(error.message)"
                )
            }
        }
        parameters.waitsForRunnerUpdates = true
        parameters.seed = self.seed
        let poolConfiguration:
            WorkerPool<Run.Instances, VirtualClock>
                .Configuration
        do throws(DispatcherError) {
            poolConfiguration = try Dispatcher.poolConfiguration(
                config,
                instanceSetID: Dispatcher.instanceSetID(token: config.systemRootToken.value),
                publicKey: nil,
                runnerSearchDirectory: nil,
                deploysRunner: false
            )
        } catch {
            throw SimulationError(error.message)
        }
        let run = Run(
            config: config,
            configurationName: self.configurationName,
            seed: self.seed,
            parameters: parameters,
            poolConfiguration: poolConfiguration,
            workload: workload,
            progress: self.progress,
            statistics: self.statistics,
            maxTimeAfterLastSubmission: self.maxTimeAfterLastSubmission
        )
        let executor = SimulationExecutor()
        let jitter = JitterSource(seed: self.seed)
        let result = await executor.run {
            await Jitter.$source.withValue(jitter) { await run.simulate(clock: executor.clock) }
        }
        if let statistics = self.statistics {
            var counts = result.statistics
            counts.jobs = executor.jobCount
            counts.sleeps = executor.clock.sleepCount
            statistics(counts)
        }
        return result.result
    }
}

/// A simulation that cannot run: the message names the key or the file at fault.
public struct SimulationError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { self.message }
}

/// One run, on the simulation's executor.
struct Run: Sendable {
    typealias Instances = DecoratedInstanceSet<SimulatedCloud<VirtualClock, SeededRandomNumberGenerator>, VirtualClock>

    let config: ClusterConfig
    let configurationName: String
    let seed: UInt64
    let parameters: SimulatedCloudParameters
    let poolConfiguration: WorkerPool<Instances, VirtualClock>.Configuration
    let workload: Workload
    let progress: (@Sendable (Simulator.Progress) -> Void)?
    let statistics: (@Sendable (Simulator.Statistics) -> Void)?
    let maxTimeAfterLastSubmission: Duration

    func simulate(clock: VirtualClock) async -> (result: SimulationResult, statistics: Simulator.Statistics) {
        let epoch = Simulator.epoch
        let wallClock: @Sendable () -> Timestamp = {
            let (seconds, attoseconds) = clock.nowComponents
            return Timestamp(
                secondsSince1970: epoch.secondsSince1970 + seconds,
                nanoseconds: Int32(attoseconds / 1_000_000_000)
            )
        }
        var logger = Logger(label: "simulate")
        logger.logLevel = .critical
        let metrics = NOOPMetricsHandler.instance
        let cloudVMs = self.config.containers.cloudVMs
        let rootToken = self.config.systemRootToken.value

        let api = InMemoryContainerAPI(
            clusterID: self.config.clusterID,
            systemRootToken: rootToken,
            submitterTokens: [Simulator.submitterToken],
            admission: self.config.instanceTypeChooser,
            maxDispatchAttempts: self.config.containers.maxDispatchAttempts,
            wallClock: wallClock
        )
        let client = ArvadosClient(
            baseURL: URL(string: "http://simulation.invalid/")!,
            token: rootToken,
            transport: api
        )
        let cloud = SimulatedCloud(
            parameters: self.parameters,
            clock: clock,
            randomNumberGenerator: SeededRandomNumberGenerator(seed: self.seed),
            logger: logger
        )
        var resourceTags = InstanceTags()
        for (key, value) in cloudVMs.resourceTags { resourceTags[key] = value }
        let instances = cloud.decorated(
            maxCloudOpsPerSecond: cloudVMs.maxCloudOpsPerSecond,
            resourceTags: resourceTags,
            clock: clock,
            metricsFactory: metrics,
            logger: logger
        )
        let pool = WorkerPool(
            configuration: self.poolConfiguration,
            instanceSet: instances,
            clock: clock,
            logger: logger,
            makeExecutor: { listing in cloud.executor(for: listing.id) },
            wallClock: wallClock,
            metricsFactory: metrics
        )
        var queueConfiguration = ContainerQueue<VirtualClock>.Configuration()
        queueConfiguration.pollInterval = cloudVMs.pollInterval
        queueConfiguration.pushesAreComplete = true
        let queue = ContainerQueue(
            client: client,
            chooser: self.config.instanceTypeChooser,
            configuration: queueConfiguration,
            clock: clock,
            wallClock: wallClock,
            logger: logger,
            metricsFactory: metrics
        )
        let scheduler = SchedulingLoop(
            queue: QueueForScheduling(queue: queue),
            pool: PoolForScheduling(
                pool: pool,
                countsPreemptions: self.config.dispatchCloud.preemptionBudget > 0
            ),
            clock: clock,
            wallClock: wallClock,
            configuration: Dispatcher.schedulerConfiguration(self.config, quietAfter503: .seconds(60)),
            logger: logger,
            metricsFactory: metrics
        )
        let typeTag = self.poolConfiguration.tagKey(.instanceType)
        let recorder = Recorder(config: self.config, workload: self.workload, clock: clock)
        let runners = SimulatedRunnerBridge(
            cloud: cloud,
            connect: { _ in client },
            observe: { event in
                var typeName: String?
                if case .instanceCreated = event.kind, let id = event.instanceID {
                    typeName = await cloud.tags(of: id)?[typeTag]
                }
                await recorder.cloudEvent(event, typeName: typeName)
            },
            backoff: { try? await clock.sleep(for: $0) }
        )

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await cloud.run() }
            group.addTask { await runners.run() }
            group.addTask {
                for await change in api.changes {
                    let latest = await api.sequence
                    await queue.applyPushed(change.containers, complete: change.sequence == latest ? wallClock() : nil)
                    await recorder.changed(change.containers)
                }
            }
            group.addTask { try? await pool.run() }
            group.addTask { try? await queue.run() }
            group.addTask { try? await scheduler.run() }
            group.addTask {
                await self.submit(api: api, cloud: cloud, recorder: recorder, clock: clock)
            }
            await self.sample(pool: pool, api: api, cloud: cloud, recorder: recorder, clock: clock)
            group.cancelAll()
        }
        var statistics = Simulator.Statistics()
        if self.statistics != nil {
            statistics.passes = await scheduler.passCount()
            statistics.reusedPlans = await scheduler.reusedPlanCount()
            statistics.apiRequests = await api.requestCount
            statistics.commands = await cloud.commandCount
        }
        return (await recorder.result(configurationName: self.configurationName, seed: self.seed), statistics)
    }

    /// Submits the workload's containers at their times.
    func submit(
        api: InMemoryContainerAPI,
        cloud: SimulatedCloud<VirtualClock, SeededRandomNumberGenerator>,
        recorder: Recorder,
        clock: VirtualClock
    ) async {
        for (index, entry) in self.workload.entries.enumerated() {
            if entry.submit > clock.now.offset {
                do {
                    try await clock.sleep(until: VirtualClock.Instant(offset: entry.submit))
                } catch {
                    return
                }
            }
            do throws(ContainerAPIError) {
                let container = try await api.create(Self.attributes(entry), token: Simulator.submitterToken)
                await cloud.plan(container.uuid, runTime: entry.runTime, exitCode: entry.exitCode)
                await recorder.submitted(container.uuid, index: index)
            } catch {
                await recorder.refused(index: index, reason: error.message)
            }
        }
    }

    /// The attributes of the container a workload entry stands for.
    static func attributes(_ entry: Workload.Entry) -> [String: JSONValue] {
        var constraints: [String: JSONValue] = ["vcpus": .int(Int64(entry.vcpus)), "ram": .int(entry.ram)]
        if entry.gpus > 0 {
            constraints["gpu"] = .object([
                "stack": .string("cuda"),
                "device_count": .int(Int64(entry.gpus)),
                "driver_version": .string("11.0"),
                "hardware_target": .array([.string("8.0")]),
                "vram": .int(0),
            ])
        }
        var attributes: [String: JSONValue] = [
            "command": .array([.string("simulated")]),
            "container_image": .string("simulated"),
            "output_path": .string("/out"),
            "priority": .int(Int64(entry.priority)),
            "runtime_constraints": .object(constraints),
        ]
        if entry.scratch > 0 {
            attributes["mounts"] = .object([
                "/tmp": .object(["kind": .string("tmp"), "capacity": .int(entry.scratch)])
            ])
        }
        if entry.preemptible {
            attributes["scheduling_parameters"] = .object(["preemptible": .bool(true)])
        }
        return attributes
    }

    /// Samples the cluster every interval until every container is done and every instance gone (or the time
    /// limit passes).
    func sample(
        pool: WorkerPool<Instances, VirtualClock>,
        api: InMemoryContainerAPI,
        cloud: SimulatedCloud<VirtualClock, SeededRandomNumberGenerator>,
        recorder: Recorder,
        clock: VirtualClock
    ) async {
        let lastSubmission = self.workload.entries.last?.submit ?? .zero
        let longest = self.workload.entries.map(\.runTime).max() ?? .zero
        let interval = max(.seconds(30), (lastSubmission + longest) / 600)
        let deadline = lastSubmission + self.maxTimeAfterLastSubmission
        while true {
            // The pool's kept views (in the same order as `instances()`, whose every view is built and sorted
            // anew): the sample reads only each instance's type and state, which the kept views always have fresh.
            let views = await pool.schedulingState().instances
            let queued = await api.count(in: .queued) + api.count(in: .locked)
            let running = await api.count(in: .running)
            let state = await recorder.sample(views: views, queued: queued, running: running)
            let left = await cloud.instanceCount
            self.progress?(
                Simulator.Progress(
                    simulated: clock.now.offset,
                    submitted: state.submitted,
                    finished: state.finished,
                    total: self.workload.entries.count,
                    instances: left
                )
            )
            if state.finished == self.workload.entries.count && left == 0 { return }
            if clock.now.offset > deadline {
                await recorder.stoppedUnfinished()
                return
            }
            do {
                try await clock.sleep(for: interval)
            } catch {
                return
            }
        }
    }
}
