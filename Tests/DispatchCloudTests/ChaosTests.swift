import ArvadosAPI
import CloudDriver
import CloudDriverSimulated
import ContainerAPIServer
import DispatchCloud
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import Scheduler
import SimulatedRunner
import Synchronization
import Testing
import WorkerPool

/// The assembled daemon over the simulated cloud with everything going wrong at once, after Arvados's
/// `TestDispatchToStubDriver` (reference §8.2).
@Suite("Chaos", .serialized)
struct ChaosTests {
    /// `CHAOS_CONTAINERS` and `CHAOS_RESTARTS` make a longer run.
    static let containerCount = Int(ProcessInfo.processInfo.environment["CHAOS_CONTAINERS"] ?? "") ?? 200
    static let restarts = Int(ProcessInfo.processInfo.environment["CHAOS_RESTARTS"] ?? "") ?? 5
    /// Five attempts for the cloud's own faults, and one more per restart: a `kill -9` leaves the containers Locked
    /// on instances still booting without a runner, and the new dispatcher unlocks them (Arvados's stale-lock
    /// fix), each such restart costing them an attempt. An instance that never boots (about 40% here: broken,
    /// runner-less or not answering) also costs the container locked on it an attempt, as in Arvados. The
    /// virtual chaos run counts the same way.
    static let maxDispatchAttempts = 5 + Self.restarts

    /// The simulated cloud the test's `simulated` driver made, so the test can read its events.
    final class CloudHolder: Sendable {
        typealias Cloud = SimulatedCloud<ContinuousClock, SeededRandomNumberGenerator>
        private let storage = Mutex<Cloud?>(nil)
        var cloud: Cloud? { self.storage.withLock { $0 } }

        /// A `simulated` driver on the real clock that keeps the cloud it makes, and hands the same cloud to
        /// a dispatcher started again (a restart finds the instances it left).
        var driver: Driver {
            Driver(name: "simulated") { context throws(DriverConfigurationError) in
                let parameters = try SimulatedCloudParameters(context.parameters)
                let cloud = self.storage.withLock { existing in
                    if let existing { return existing }
                    let cloud = Cloud(parameters: parameters, clock: ContinuousClock(), logger: context.logger)
                    existing = cloud
                    return cloud
                }
                return Driver.Product(
                    instanceSet: cloud,
                    access: .inProcess(executor: { id in cloud.executor(for: id) }),
                    run: { await cloud.run() }
                )
            }
        }
    }

    /// The chaos of reference §8.2 in the simulated driver's terms: 10% create and destroy errors, a quota
    /// of 10, no capacity ever for type 6, type 4 broken outright for its first 2 × TimeoutBooting, and of
    /// the rest, about one in seven instances each stop answering, report `broken`, or lack the runner;
    /// 10% of runners crash and 10% leave a stale lock; exit codes 0–3. Runs keep a real runner's order with
    /// the API: no end before the bridge has stored Running, listed until it has stored Complete.
    static let driverParameters = """
        {"BootTime": {"Min": "100ms", "Max": "500ms"}, "RunTime": {"Min": "100ms", "Max": "1s"},
         "ErrorRates": {"Create": 0.1, "Destroy": 0.1}, "MaxInstances": 10,
         "CapacityErrors": {"providertype6": 1}, "BrokenAtFirst": {"providertype4": "4s"},
         "UnresponsiveRate": 0.14, "UnresponsiveAfter": {"Min": "0s", "Max": "1s"},
         "BrokenRate": 0.14, "RunnerMissingRate": 0.14, "RunnerCrashRate": 0.1, "StaleLockRate": 0.1,
         "ExitCodes": {"0": 1, "1": 1, "2": 1, "3": 1}, "WaitsForRunnerUpdates": true, "Seed": 20261129}
        """

    /// Arvados's test types: `type<i>` with i VCPUs, i × 1.1 GiB, price i × 0.123.
    static let instanceTypes = [1, 2, 3, 4, 6, 8, 16]

    /// The cluster: every timeout at the scale of the runs (seconds), the boot quarantine's cooldown too (its
    /// default, ten minutes, would hold type 4 past the end of the test after three bad boots in a row).
    static func yaml(dataDirectory: String, apiPort: Int, proxyPort: Int) -> String {
        let types = Self.instanceTypes.map { i in
            """
                  type\(i):
                    ProviderType: providertype\(i)
                    VCPUs: \(i)
                    RAM: \(Int64(i) * (1 << 30) * 11 / 10)
                    IncludedScratch: \(i)GiB
                    Price: \(Double(i) * 0.123)
            """
        }
        return """
            Clusters:
              zzzzz:
                SystemRootToken: chaos-root-token
                Services:
                  Controller:
                    ExternalURL: http://127.0.0.1:\(proxyPort)
                    InternalURLs:
                      http://127.0.0.1:\(apiPort): {}
                Containers:
                  RuntimeEngine: stub
                  ReserveExtraRAM: 0
                  LocalKeepBlobBuffersPerVCPU: 0
                  MaxDispatchAttempts: \(Self.maxDispatchAttempts)
                  StaleLockTimeout: 1s
                  MaximumPriceFactor: 1.5
                  CloudVMs:
                    Enable: true
                    Driver: simulated
                    DriverParameters: \(Self.driverParameters.replacingOccurrences(of: "\n", with: " "))
                    BootProbeCommand: "true"
                    ImageID: test-image
                    InitialQuotaEstimate: 8
                    MaxCloudOpsPerSecond: 500
                    MaxProbesPerSecond: 1000
                    PollInterval: 500ms
                    ProbeInterval: 100ms
                    SyncInterval: 500ms
                    TimeoutIdle: 1s
                    TimeoutBooting: 2s
                    TimeoutProbe: 2s
                    TimeoutShutdown: 1s
                    TimeoutSignal: 200ms
                    TimeoutTERM: 1s
                    TimeoutStaleRunLock: 1s
                    DeployRunnerBinary: ""
                    DeployRunnerDirectory: \(dataDirectory)/runner
                InstanceTypes:
            \(types.joined(separator: "\n"))
                DispatchCloud:
                  DataDirectory: \(dataDirectory)
                  EmbeddedContainerAPI: true
                  BootQuarantine:
                    Cooldown: 2s
                    MaxCooldown: 4s
                  SubmitterTokens:
                    - chaos-submitter-token

            """
    }

    /// Container `i` as in Arvados's test: priority i%20+1, (i%3+1) GiB, i%8+1 VCPUs.
    static func attributes(_ i: Int) -> [String: JSONValue] {
        [
            "command": .array([.string("true")]),
            "container_image": .string("test-image"),
            "output_path": .string("/tmp"),
            "cwd": .string("/tmp"),
            "priority": .int(Int64(i % 20 + 1)),
            "runtime_constraints": .object([
                "vcpus": .int(Int64(i % 8 + 1)),
                "ram": .int(Int64(i % 3 + 1) << 30),
            ]),
        ]
    }

    @Test(
        "200 containers through cloud errors, broken and lost instances, runner crashes and a 503 burst each finish exactly once, and no instance is left",
        .timeLimit(.minutes(Self.containerCount > 200 ? 60 : 5))
    )
    func dispatchThroughChaos() async throws {
        let started = ContinuousClock.now
        let directory = try TemporaryDirectory(prefix: "chaos")
        defer { directory.remove() }
        let apiPort = try LoopbackPort.free()
        let apiURL = URL(string: "http://127.0.0.1:\(apiPort)")!
        var quiet = Logger(label: "chaos")
        quiet.logLevel = .critical
        let proxy = FaultInjectingProxy(upstream: apiURL, logger: quiet)
        let proxyTask = Task { try await proxy.run() }
        defer { proxyTask.cancel() }
        let proxyPort = await proxy.listeningPort()

        let holder = CloudHolder()
        let metrics = InMemoryMetricsFactory()
        let yaml = Self.yaml(dataDirectory: directory.path, apiPort: apiPort, proxyPort: proxyPort)
        let config = try ClusterConfig.load(yaml: yaml, sourceName: "chaos").config
        var logger = Logger(label: "chaos")
        // CHAOS_LOG_LEVEL=info shows what the dispatcher did, to study a failure.
        logger.logLevel =
            ProcessInfo.processInfo.environment["CHAOS_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        let makeDispatcher = {
            try Dispatcher(
                config: config,
                drivers: DriverRegistry([holder.driver]),
                logger: logger,
                metricsFactory: metrics,
                quietAfter503: .seconds(5)
            )
        }
        var dispatcher = try makeDispatcher()
        let cloud = try #require(holder.cloud)
        // The invariants, checked on every record the API commits and every cloud event.
        let checker = InvariantChecker(
            limits: .init(
                maxInstances: 10,
                lockedWithoutInstance: .seconds(30),
                maxDispatchAttempts: Self.maxDispatchAttempts
            )
        )
        // Each dispatcher's embedded API has its own feed.
        var feeds: [ChangeFeed.Subscription] = []
        var feedTasks: [Task<Void, Never>] = []
        func follow(_ dispatcher: Dispatcher) throws {
            let feed = try #require(dispatcher.containerAPI).changes.subscribe()
            feeds.append(feed)
            feedTasks.append(
                Task {
                    while let batch = await feed.next() {
                        checker.observe(batch.containers, at: ContinuousClock.now - started)
                    }
                }
            )
        }
        try follow(dispatcher)
        defer { for feed in feeds { feed.cancel() } }
        // The runners' side goes straight to the API, as runners on the VMs would not share the
        // dispatcher's overloaded path.
        // Every tenth instance is deleted behind the dispatcher's back while it boots (as a spot instance
        // reclaimed at once), so the pool sees booting instances disappear.
        let bridge = SimulatedRunnerBridge(
            cloud: cloud,
            client: ArvadosClient(baseURL: apiURL, token: "chaos-root-token"),
            record: true,
            observe: { event in
                checker.observe(event)
                guard case .instanceCreated = event.kind, let id = event.instanceID,
                    id.rawValue.hasSuffix("5")
                else { return }
                let instance = try? await cloud.instances(tagged: [:]).first { $0.id == id }
                try? await instance?.destroy()
            }
        )
        let bridgeTask = Task { await bridge.run() }
        var service = Task { [dispatcher] in try await dispatcher.run(signals: false) }
        defer { service.cancel() }

        let submitter = ArvadosClient(baseURL: apiURL, token: "chaos-submitter-token")
        // The whole suite starts at once on two cores: give the dispatcher a minute to come up, and say why
        // not if it does not (its services stop if the API's port was taken by another test, say).
        let ready = await eventually(timeout: .seconds(60)) { try? await submitter.currentAuthorization() }
        if ready == nil {
            service.cancel()
            let outcome = await service.result
            Issue.record("the embedded API did not answer within 60 s; the dispatcher ended with \(outcome)")
            return
        }
        var uuids: [ContainerUUID] = []
        for i in 0..<Self.containerCount {
            uuids.append(try await submitter.createContainer(Self.attributes(i)).uuid)
        }

        // Wait for every container to finish, with progress at least every 30 s; at half-way the API
        // answers the dispatcher 503 for one second. Each 503 lowers the container limit to one below the
        // running count until the API has been quiet for `quietAfter503` (Arvados: one minute, here 5 s;
        // at quota the limit cannot grow back before that, so a minute would make this test slow).
        let admin = ArvadosClient(baseURL: apiURL, token: "chaos-root-token")
        var final: [ContainerUUID: Container] = [:]
        var lastProgress = ContinuousClock.now
        var burst = false
        var timeline: [String] = []
        // Restarts at random points: a new dispatcher on the same store and cloud, the old one cancelled
        // without a graceful shutdown (the kill -9 equivalent in one process).
        var random = SeededRandomNumberGenerator(seed: 20_261_203)
        let share = Self.containerCount / (Self.restarts + 1)
        let restartAt = (0..<Self.restarts).map { share * $0 + Int.random(in: 1...max(1, share), using: &random) }
        var restartsDone = 0
        while final.count < uuids.count {
            try await Task.sleep(for: .milliseconds(250))
            let pending = uuids.filter { final[$0] == nil }
            var found = 0
            for batch in stride(from: 0, to: pending.count, by: 100) {
                let page = try await admin.containers(
                    filters: [
                        ArvadosFilter(
                            "uuid",
                            "in",
                            .array(pending[batch..<min(batch + 100, pending.count)].map { .string($0.rawValue) })
                        ),
                        ArvadosFilter("state", "in", .array([.string("Complete"), .string("Cancelled")])),
                    ],
                    limit: 1000
                )
                for container in page.items { final[container.uuid] = container }
                found += page.items.count
            }
            if found > 0 {
                lastProgress = ContinuousClock.now
                timeline.append("\((lastProgress - started).components.seconds)s:\(final.count)")
            }
            if restartsDone < restartAt.count && final.count >= restartAt[restartsDone] {
                // A graceful stop: cancelling a Hummingbird server with connections open can trap in NIO
                // ("Deinited NIOAsyncWriter without calling finish()", apple/swift-nio#3481). Restarts with no
                // shutdown at all (kill -9) are VirtualChaosTests' (in process, no sockets) and
                // KillRestartTests' (the real `serve`).
                await dispatcher.shutdown()
                _ = await service.result
                restartsDone += 1
                dispatcher = try makeDispatcher()
                try follow(dispatcher)
                service = Task { [dispatcher] in try await dispatcher.run(signals: false) }
                let up = await eventually(timeout: .seconds(60)) { try? await submitter.currentAuthorization() }
                try #require(up != nil, "the dispatcher did not come back after restart \(restartsDone)")
                lastProgress = ContinuousClock.now
                timeline.append("restart\(restartsDone)")
            }
            // After the last restart, so the last dispatcher's gauges show it.
            if !burst && final.count >= max(uuids.count / 2, (restartAt.last ?? 0) + 1)
                && restartsDone == restartAt.count
            {
                burst = true
                proxy.refuse(for: .seconds(1))
            }
            if ContinuousClock.now - lastProgress > .seconds(30) {
                let instances = await dispatcher.pool.instances().map {
                    "\($0.instance?.rawValue ?? "creating") \($0.workerState) \($0.runningContainerUUIDs)"
                }
                let queue = await dispatcher.scheduler.scheduledQueue().prefix(20).map {
                    "\($0.uuid) \($0.status.map { "\($0)" } ?? "-")"
                }
                Issue.record(
                    "no progress in 30 s with \(uuids.count - final.count) containers left (restarts \(restartsDone)): \(instances); queue \(queue)"
                )
                return
            }
        }
        let finishedAfter = ContinuousClock.now - started

        // After the queue empties, idle instances time out and are destroyed, despite destroy errors.
        let drained = await eventually(timeout: .seconds(30), interval: .milliseconds(100)) { () async -> Bool? in
            let inCloud = await cloud.instanceCount
            let inPool = await dispatcher.pool.instances().count
            return inCloud == 0 && inPool == 0 ? true : nil
        }
        let leftInCloud = await cloud.instanceCount
        #expect(drained == true, "instances left: \(leftInCloud) in the cloud")
        checker.finish(instancesLeft: leftInCloud, at: ContinuousClock.now - started)
        await dispatcher.shutdown()
        _ = await service.result
        await cloud.stop()
        await bridgeTask.value
        for feed in feeds { feed.cancel() }
        for task in feedTasks { await task.value }
        #expect(restartsDone == Self.restarts)
        #expect(checker.violations.isEmpty, "\(checker.violations.prefix(20))")

        let events = await bridge.recordedEvents
        let updates = await bridge.recordedUpdates
        Self.checkExactlyOnce(uuids: uuids, final: final, events: events, updates: updates)
        Self.checkMetrics(metrics)
        #expect(proxy.counts.refused > 0, "the 503 burst reached no request")

        let complete = final.values.count { $0.state == .complete }
        let crashes = events.count { if case .runnerCrashed = $0.kind { true } else { false } }
        let refused = updates.count { $0.failure != nil }
        var faults: [String: Int] = [:]
        for event in events {
            switch event.kind {
            case .errorInjected(let operation, let code): faults["\(operation) \(code)", default: 0] += 1
            case .runnerCrashed: faults["runner crash", default: 0] += 1
            case .lockLeftStale: faults["stale lock", default: 0] += 1
            default: break
            }
        }
        let faultList = faults.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print(
            "chaos: \(uuids.count) containers, \(restartsDone) restarts, \(complete) complete, \(uuids.count - complete) cancelled, \(crashes) runner crashes, "
                + "\(events.count { $0.kind == .instanceDestroyed }) instances destroyed, "
                + "\(proxy.counts.refused) requests refused 503, \(refused) runner updates refused; finished in \(finishedAfter), "
                + "drained in \(ContinuousClock.now - started); faults: \(faultList); \(checker.checks) invariant checks, "
                + "\(checker.violations.count) violations; finished over time: \(timeline.joined(separator: " "))"
        )
    }

    /// Every container went Running exactly once in the API; a Complete one was completed exactly once, with
    /// the exit code the API shows; a Cancelled one lost its runner after Running (a crash, or its instance
    /// gone) and was never completed, nor cancelled for running out of dispatch attempts.
    ///
    /// This is Arvados's "completes or crashes after Running exactly once" (reference §8.2), where a runner
    /// whose Running update is refused does not run the container. The simulated runner runs it anyway and
    /// only the bridge's updates are refused, so a second start (the dispatcher lost the instance of the
    /// first before the first runner reached the API) shows as a refused update, not as a second run.
    static func checkExactlyOnce(
        uuids: [ContainerUUID],
        final: [ContainerUUID: Container],
        events: [SimulatedCloudEvent],
        updates: [SimulatedRunnerUpdate]
    ) {
        var running: [ContainerUUID: Int] = [:]
        var completed: [ContainerUUID: [Int32]] = [:]
        for update in updates where update.failure == nil {
            switch update.event.kind {
            case .containerStarted(let uuid):
                running[uuid, default: 0] += 1
            case .containerExited(let uuid, let code):
                completed[uuid, default: []].append(code)
            default:
                break
            }
        }
        for uuid in uuids {
            guard let container = final[uuid] else {
                Issue.record("\(uuid) did not finish")
                continue
            }
            let history = Self.history(of: uuid, events: events, updates: updates)
            #expect(running[uuid] == 1, "\(uuid) went Running \(running[uuid] ?? 0) times: \(history)")
            switch container.state {
            case .complete:
                #expect(
                    completed[uuid]?.count == 1,
                    "\(uuid) completed \(completed[uuid]?.count ?? 0) times: \(history)"
                )
                #expect(completed[uuid]?.first.map(Int.init) == container.exitCode, "\(uuid)'s exit code")
            case .cancelled:
                #expect(completed[uuid] == nil, "\(uuid) is Cancelled but its runner completed it")
                let error = container.runtimeStatus["error"]?.stringValue ?? ""
                #expect(!error.contains("MaxDispatchAttempts"), "\(uuid): \(error)")
            default:
                Issue.record("\(uuid) is \(container.state)")
            }
        }
    }

    /// What happened to one container, for failure messages.
    static func history(
        of uuid: ContainerUUID,
        events: [SimulatedCloudEvent],
        updates: [SimulatedRunnerUpdate]
    ) -> String {
        let mentioned = events.filter { "\($0.kind)".contains(uuid.rawValue) }.map(\.description)
        let changes = updates.filter { "\($0.event.kind)".contains(uuid.rawValue) }.map {
            "\($0.event.elapsed) \($0.state) \($0.failure ?? "ok")"
        }
        return "events [\(mentioned.joined(separator: "; "))] updates [\(changes.joined(separator: "; "))]"
    }

    /// The metrics reference §8.2 checks.
    static func checkMetrics(_ metrics: InMemoryMetricsFactory) {
        let operations = "arvados_dispatchcloud_driver_operations"
        for operation in ["Create", "List", "Destroy"] {
            #expect(
                (metrics.counterValue(operations, ["operation": operation, "error": "0"]) ?? 0) > 0,
                "\(operation)"
            )
        }
        #expect((metrics.counterValue(operations, ["operation": "Create", "error": "1"]) ?? 0) > 0)
        #expect(metrics.counterValue(operations, ["operation": "List", "error": "1"]) == 0)

        let outcomes = "arvados_dispatchcloud_boot_outcomes"
        #expect(metrics.counterValue(outcomes, ["outcome": "aborted"]) != nil)
        for outcome in ["disappeared", "failure", "success"] {
            #expect((metrics.counterValue(outcomes, ["outcome": outcome]) ?? 0) > 0, "boot outcome \(outcome)")
        }
        let disappeared = "arvados_dispatchcloud_instances_disappeared"
        #expect((metrics.counterValue(disappeared, ["state": "shutdown"]) ?? 0) > 0)
        #expect(metrics.counterValue(disappeared, ["state": "unknown"]) == 0)

        for timer in [
            "arvados_dispatchcloud_instances_time_to_ssh_seconds",
            "arvados_dispatchcloud_instances_time_to_ready_for_container_seconds",
            "arvados_dispatchcloud_instances_time_from_shutdown_request_to_disappearance_seconds",
            "arvados_dispatchcloud_containers_time_from_queue_to_crunch_run_seconds",
        ] {
            #expect(!metrics.timerValues(timer).isEmpty, "\(timer)")
        }
        for outcome in ["success", "fail"] {
            #expect(
                !metrics.timerValues("arvados_dispatchcloud_instances_run_probe_duration_seconds", ["outcome": outcome])
                    .isEmpty,
                "run probe \(outcome)"
            )
        }
        #expect((metrics.lastRecordedValue("arvados_dispatchcloud_last_503_time") ?? 0) > 0)
        #expect((metrics.lastRecordedValue("arvados_dispatchcloud_max_concurrent_containers") ?? 0) > 0)
    }
}
