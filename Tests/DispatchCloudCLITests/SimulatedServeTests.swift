import ArvadosAPI
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

#if canImport(Glibc)
import Glibc
#endif

/// `dispatch-cloud serve` with `Driver: simulated`: the simulated cloud's runners move containers through the
/// API as real runners do, so a batch completes, through the doors an operator uses.
@Suite("serve with the simulated driver", .serialized)
struct SimulatedServeTests {
    static func setUp(
        _ directory: TemporaryDirectory,
        driverParameters: String,
        maxInstances: Int
    ) throws -> (StandaloneCluster, String) {
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.managementPort = try LoopbackPort.free()
        cluster.driver = "simulated"
        cluster.driverParameters = driverParameters
        cluster.maxInstances = maxInstances
        cluster.timeoutIdle = "2s"
        let path = try directory.write(cluster.yaml, to: "config.yml")
        return (cluster, path)
    }

    static func attributes(_ name: String, priority: Int = 1, maxRunTime: Int? = nil) -> [String: JSONValue] {
        var attributes: [String: JSONValue] = [
            "command": .array([.string("echo"), .string(name)]),
            "container_image": .string("test-image"),
            "output_path": .string("/tmp"),
            "priority": .int(Int64(priority)),
            "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(64 << 20)]),
        ]
        if let maxRunTime {
            attributes["scheduling_parameters"] = .object(["max_run_time": .int(Int64(maxRunTime))])
        }
        return attributes
    }

    /// The runner's log lines of a container (`crunch-run` events).
    static func runnerLog(_ client: ArvadosClient, _ uuid: ContainerUUID) async throws -> [String] {
        let page = try await client.logs(
            filters: [
                ArvadosFilter("object_uuid", "=", .string(uuid.rawValue)),
                ArvadosFilter("event_type", "=", .string("crunch-run")),
            ],
            limit: 100
        )
        return page.items.compactMap(\.text)
    }

    /// The instances the management API lists.
    static func instanceCount(_ cluster: StandaloneCluster) async throws -> Int {
        let port = try #require(cluster.managementPort)
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/arvados/v1/dispatch/instances")!)
        request.setValue("Bearer \(cluster.managementToken)", forHTTPHeaderField: "Authorization")
        let (body, _) = try await URLSession.shared.data(for: request)
        let object = try JSONSerialization.jsonObject(with: body) as? [String: Any]
        return (object?["items"] as? [Any])?.count ?? -1
    }

    @Test(
        "serve refuses to start when DeployRunnerBinary is no readable file, instead of leaving every container Queued",
        .timeLimit(.minutes(2))
    )
    func unreadableRunnerBinary() async throws {
        let directory = try TemporaryDirectory(prefix: "serve-simulated-no-runner")
        defer { directory.remove() }
        var (cluster, _) = try Self.setUp(directory, driverParameters: "{}", maxInstances: 2)
        // A missing file and a directory: before, serve started, took containers and never created an instance.
        for binary in [directory.file("no-such-dispatch-runner"), directory.path] {
            cluster.deployRunnerBinary = binary
            let configPath = try directory.write(cluster.yaml, to: "config.yml")
            let output = try await ProcessRunner.run(
                ProcessRunner.product("dispatch-cloud"),
                ["serve", "--config", configPath]
            )
            #expect(output.status == 2, "\(output.stderr)")
            #expect(
                output.stderr.contains(
                    "Containers.CloudVMs.DeployRunnerBinary is \(binary), which is not a readable file"
                ),
                "\(output.stderr)"
            )
        }
    }

    @Test(
        "300 containers on the simulated cloud each complete exactly once through serve, and idle instances go",
        .timeLimit(.minutes(5))
    )
    func batchCompletes() async throws {
        let directory = try TemporaryDirectory(prefix: "serve-simulated")
        defer { directory.remove() }
        let (cluster, configPath) = try Self.setUp(
            directory,
            driverParameters: #"""
                {"BootTime": {"Min": "100ms", "Max": "300ms"}, "RunTime": {"Min": "50ms", "Max": "400ms"},
                 "ExitCodes": {"0": 3, "1": 1}, "Seed": 18}
                """#.replacingOccurrences(of: "\n", with: " "),
            maxInstances: 20
        )
        let daemon = try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve.log"))
        defer { daemon.process.signal(SIGKILL) }
        let client = ServeCommandTests.client(cluster)
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(daemon.logText)")

        var uuids: [ContainerUUID] = []
        for i in 0..<300 {
            uuids.append(try await client.createContainer(Self.attributes("sim-\(i)", priority: i % 10 + 1)).uuid)
        }
        var final: [ContainerUUID: Container] = [:]
        let finished = await eventually(timeout: .seconds(240), interval: .milliseconds(500)) { () async -> Bool? in
            let page = try? await client.containers(
                filters: [ArvadosFilter("state", "in", .array([.string("Complete"), .string("Cancelled")]))],
                limit: 1000
            )
            for container in page?.items ?? [] { final[container.uuid] = container }
            return final.count == uuids.count ? true : nil
        }
        try #require(finished == true, "\(final.count) of 300 finished; log: \(daemon.logText.suffix(3000))")

        var exitCodes: [Int: Int] = [:]
        for uuid in uuids {
            let container = try #require(final[uuid])
            #expect(container.state == .complete, "\(uuid) ended \(container.state): \(container.runtimeStatus)")
            // Every container ran to its end once: one runner finalized it (a lock given back before a runner
            // started, as under heavy load, is no second run).
            let log = try await Self.runnerLog(client, uuid)
            #expect(log.count == 1, "\(uuid)'s runner log: \(log)")
            let code = try #require(container.exitCode)
            #expect(log.first?.contains("container exited with code \(code)") == true, "\(log)")
            exitCodes[code, default: 0] += 1
        }
        // The configured exit codes, in about their weights (3:1).
        #expect(Set(exitCodes.keys) == [0, 1], "\(exitCodes)")
        #expect((exitCodes[0] ?? 0) > (exitCodes[1] ?? 0), "\(exitCodes)")

        // After TimeoutIdle (2 s), every instance is shut down.
        let drained = await eventually(timeout: .seconds(60), interval: .milliseconds(500)) { () async -> Bool? in
            (try? await Self.instanceCount(cluster)) == 0 ? true : nil
        }
        let left = (try? await Self.instanceCount(cluster)) ?? -1
        #expect(drained == true, "instances left: \(left)")
        daemon.process.signal(SIGTERM)
        let termination = await daemon.process.wait()
        #expect(termination == .exited(0))
    }

    @Test(
        "A simulated runner stops a container at its max_run_time and on a cancel, as a real runner",
        .timeLimit(.minutes(3))
    )
    func maxRunTimeAndCancel() async throws {
        let directory = try TemporaryDirectory(prefix: "serve-simulated-limits")
        defer { directory.remove() }
        let (cluster, configPath) = try Self.setUp(
            directory,
            driverParameters: #"{"BootTime": {"Min": "100ms", "Max": "100ms"}, "RunTime": {"Min": "6s", "Max": "6s"}}"#,
            maxInstances: 4
        )
        let daemon = try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve.log"))
        defer { daemon.process.signal(SIGKILL) }
        let client = ServeCommandTests.client(cluster)
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(daemon.logText)")

        let limited = try await client.createContainer(Self.attributes("limited", maxRunTime: 1)).uuid
        let cancelled = try await client.createContainer(Self.attributes("cancelled")).uuid
        let plain = try await client.createContainer(Self.attributes("plain")).uuid
        // Once its runner reports Running, the submitter cancels the second (priority 0, as Arvados's
        // container request cancel does): the dispatcher kills the runner, which finalizes it Cancelled.
        let running = await eventually(timeout: .seconds(60), interval: .milliseconds(100)) { () async -> Bool? in
            (try? await client.container(cancelled))?.state == .running ? true : nil
        }
        try #require(running == true, "\(daemon.logText.suffix(3000))")
        _ = try await client.updateContainer(cancelled, ["priority": .int(0)])

        var final: [ContainerUUID: Container] = [:]
        let finished = await eventually(timeout: .seconds(90), interval: .milliseconds(200)) { () async -> Bool? in
            for uuid in [limited, cancelled, plain] where final[uuid] == nil {
                if let container = try? await client.container(uuid), container.state.isFinal {
                    final[uuid] = container
                }
            }
            return final.count == 3 ? true : nil
        }
        try #require(finished == true, "\(final); \(daemon.logText.suffix(3000))")

        let stopped = try #require(final[limited])
        #expect(stopped.state == .cancelled)
        #expect(stopped.runtimeStatus["error"]?.stringValue == "maximum run time exceeded", "\(stopped.runtimeStatus)")
        #expect(try await Self.runnerLog(client, limited).contains { $0.contains("maximum run time exceeded") })

        #expect(final[cancelled]?.state == .cancelled)
        #expect(try await Self.runnerLog(client, cancelled).contains { $0.contains("stopped on request") })

        #expect(final[plain]?.state == .complete)
        #expect(final[plain]?.exitCode == 0)
        daemon.process.signal(SIGTERM)
        _ = await daemon.process.wait()
    }
}
