import CloudDriver
import CloudDriverSimulated
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import Metrics
import RemoteExecution
import Synchronization
import Testing

@testable import WorkerPool

typealias SimCloud = SimulatedCloud<ManualClock, SeededRandomNumberGenerator>
typealias Pool = WorkerPool<ScriptedInstanceSet, ManualClock>

/// The simulated cloud, with create errors a test scripts in advance.
final class ScriptedInstanceSet: InstanceSet, Sendable {
    typealias Instance = SimulatedInstance<ManualClock, SeededRandomNumberGenerator>

    let cloud: SimCloud
    let createErrors = Mutex<[CloudError]>([])

    init(cloud: SimCloud) {
        self.cloud = cloud
    }

    /// Makes the next creates fail with `errors`, in order.
    func failNextCreates(_ errors: [CloudError]) {
        self.createErrors.withLock { $0 += errors }
    }

    func create(
        type: InstanceType,
        imageID: ImageID,
        tags: InstanceTags,
        initCommand: String,
        publicKey: String?
    ) async throws(CloudError) -> Instance {
        if let error = self.createErrors.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { throw error }
        return try await self.cloud.create(
            type: type,
            imageID: imageID,
            tags: tags,
            initCommand: initCommand,
            publicKey: publicKey
        )
    }

    func instances(tagged tags: InstanceTags) async throws(CloudError) -> [Instance] {
        try await self.cloud.instances(tagged: tags)
    }

    func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup {
        self.cloud.quotaGroup(for: type)
    }

    func stop() async {}
}

/// A pool over a simulated cloud, both on one manual clock, running until ``stop()``.
/// A step of a wall clock that its monotonic clock does not see.
final class WallClockStep: Sendable {
    private let value = Mutex(Duration.zero)

    var step: Duration { self.value.withLock { $0 } }

    /// Steps the wall clock by `duration` more.
    func jump(by duration: Duration) { self.value.withLock { $0 += duration } }
}

struct PoolHarness: Sendable {
    static let clusterID: ClusterID = "zzzzz"
    static let instanceSetID: InstanceSetID = "zzzzz-test-set"

    let clock: ManualClock
    let cloud: SimCloud
    let instanceSet: ScriptedInstanceSet
    let pool: Pool
    let metrics: InMemoryMetricsFactory
    let commands: CommandLog
    let configuration: Pool.Configuration
    let task: Task<Void, any Error>
    /// A step of the pool's wall clock (NTP, an operator) that the monotonic clock does not see.
    let wallClockStep: WallClockStep

    /// The default configuration of the tests: Arvados's defaults, a runner binary to deploy, and no
    /// `MaxConcurrentInstanceCreateOps` limit unless a test sets one.
    static func configuration(types: [InstanceType]) -> Pool.Configuration {
        var configuration = Pool.Configuration(
            clusterID: Self.clusterID,
            instanceSetID: Self.instanceSetID,
            instanceTypes: types
        )
        configuration.deployRunnerBinary = Self.runnerBinaryPath
        configuration.maxConcurrentInstanceCreateOps = 0
        configuration.resourceTags = ["testtag": "testvalue"]
        configuration.systemRootToken = "systemroottoken"
        configuration.apiHost = "127.0.0.1:1"
        configuration.bootProbeCommand = "true"
        configuration.syncInterval = .seconds(30)
        return configuration
    }

    /// Simulated-cloud parameters: instances boot in exactly one second, containers run an hour.
    static func parameters() -> SimulatedCloudParameters {
        var parameters = SimulatedCloudParameters()
        parameters.bootTime = .init(min: .seconds(1), max: .seconds(1))
        parameters.runTime = .init(min: .seconds(3600), max: .seconds(3600))
        parameters.seed = 1
        return parameters
    }

    /// A small file standing in for the runner binary.
    static let runnerBinaryPath: String = {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("worker-pool-tests-runner-\(ProcessInfo.processInfo.processIdentifier)").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("#!/bin/sh\necho runner\n".utf8))
        return path
    }()

    /// Makes and starts a pool; `cloud` lets a test share a cloud (and clock) with an earlier pool.
    static func start(
        configuration: Pool.Configuration,
        parameters: SimulatedCloudParameters = Self.parameters(),
        clock: ManualClock = ManualClock(),
        cloud existing: SimCloud? = nil,
        override: (@Sendable (String) -> CommandResult?)? = nil,
        gate: CommandGate? = nil,
        journal: JournalSink = .none,
        inProcess: Bool = false,
        noopMetrics: Bool = false
    ) -> PoolHarness {
        var logger = Logger(label: "test.pool")
        logger.logLevel = .warning
        let cloud =
            existing ?? SimCloud(parameters: parameters, clock: clock, logger: Logger(label: "test.cloud"))
        let metrics = InMemoryMetricsFactory()
        let commands = CommandLog()
        let instanceSet = ScriptedInstanceSet(cloud: cloud)
        let wallClockStep = WallClockStep()
        let pool = Pool(
            configuration: configuration,
            instanceSet: instanceSet,
            clock: clock,
            logger: logger,
            makeExecutor: { listing in
                RecordingExecutor(
                    id: listing.id,
                    inner: listing.current,
                    log: commands,
                    override: override,
                    gate: gate,
                    inProcess: inProcess
                )
            },
            wallClock: {
                Timestamp(secondsSince1970: 1_800_000_000 + Int64(clock.now.offset.components.seconds))
                    .advanced(by: wallClockStep.step)
            },
            metricsFactory: noopMetrics ? NOOPMetricsHandler.instance : metrics,
            journal: journal
        )
        let task = Task { try await pool.run() }
        return PoolHarness(
            clock: clock,
            cloud: cloud,
            instanceSet: instanceSet,
            pool: pool,
            metrics: metrics,
            commands: commands,
            configuration: configuration,
            task: task,
            wallClockStep: wallClockStep
        )
    }

    /// Stops the pool (the cloud stays, for a pool started after it).
    func stop() async {
        self.task.cancel()
        _ = await self.task.result
    }

    /// Waits until `condition` holds, checking after every pool notification; fails the test if it does not
    /// hold within 60 seconds of real time (a guard against hangs, not a synchronisation; generous because a
    /// loaded 2-core machine can stall a test for many seconds).
    func eventually(
        _ comment: Comment,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: @escaping @Sendable (Pool) async -> Bool
    ) async {
        let pool = self.pool
        let changes = await pool.subscribe()
        let held = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                if await condition(pool) { return true }
                for await _ in changes where await condition(pool) { return true }
                return false
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(held, comment, sourceLocation: sourceLocation)
    }

    /// Waits until the pool has `count` workers in `state`.
    func eventually(
        _ count: Int,
        in state: WorkerState,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        await self.eventually("\(count) workers \(state)", sourceLocation: sourceLocation) { pool in
            await pool.instances().filter { $0.instance != nil && $0.workerState == state }.count == count
        }
    }

    /// Moves the clock past the next probe tick (probe interval plus the largest jitter).
    func advanceProbeTick() {
        let interval = self.configuration.probeInterval
        self.clock.advance(by: interval + interval / 23 + .milliseconds(1))
    }

    /// Moves the clock past the next sync.
    func advanceSync() {
        self.clock.advance(by: self.configuration.syncInterval)
    }
}

/// Every command run on every instance, in order.
final class CommandLog: Sendable {
    struct Entry: Sendable {
        var instance: InstanceID
        var command: String
        var stdin: [UInt8]
    }

    private let entries = Mutex<[Entry]>([])

    func append(_ entry: Entry) { self.entries.withLock { $0.append(entry) } }

    var all: [Entry] { self.entries.withLock { $0 } }

    /// The commands that contain `fragment`.
    func matching(_ fragment: String) -> [Entry] { self.all.filter { $0.command.contains(fragment) } }
}

/// Runs commands on a simulated instance, logging them, and lets a test answer some commands itself.
struct RecordingExecutor: RemoteExecutor {
    var id: InstanceID
    var inner: any RemoteExecutor
    var log: CommandLog
    var override: (@Sendable (String) -> CommandResult?)?
    var gate: CommandGate?
    /// Whether the executor says it answers in process (the pool then probes booted workers in its own turn).
    var inProcess = false

    var answersInProcess: Bool { self.inProcess }

    func execute(environment: [String: String], command: String, stdin: [UInt8]) async throws -> CommandResult {
        self.log.append(.init(instance: self.id, command: command, stdin: stdin))
        await self.gate?.pass(command)
        if let answer = self.override?(command) { return answer }
        return try await self.inner.execute(environment: environment, command: command, stdin: stdin)
    }
}

/// Holds commands containing a fragment until the test opens the gate.
final class CommandGate: Sendable {
    private struct State {
        var open = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    let fragment: String
    private let state = Mutex(State())

    init(holding fragment: String) {
        self.fragment = fragment
    }

    func pass(_ command: String) async {
        guard command.contains(self.fragment) else { return }
        await withCheckedContinuation { continuation in
            let passNow = self.state.withLock { state in
                if state.open { return true }
                state.waiting.append(continuation)
                return false
            }
            if passNow { continuation.resume() }
        }
    }

    /// Holds later commands again, until the next ``open()``.
    func close() {
        self.state.withLock { $0.open = false }
    }

    /// Lets every held and later command through.
    func open() {
        let waiting = self.state.withLock { state in
            state.open = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }
}

extension Fixtures {
    /// A container with a well-formed UUID `zzzzz-dz642-<n padded to 15>`.
    static func container(_ n: Int) -> Container {
        let digits = String(n)
        let uuid = "zzzzz-dz642-" + String(repeating: "0", count: 15 - digits.count) + digits
        return Container(uuid: ContainerUUID(rawValue: uuid), state: .locked, priority: 1)
    }
}
