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

/// `dispatch-cloud serve` and `demo` run as an operator runs them: the binary, a config file, signals.
@Suite("Daemon commands", .serialized)
struct ServeCommandTests {
    static let dispatchCloud = ProcessRunner.product("dispatch-cloud").path

    /// A running `dispatch-cloud serve`.
    struct Daemon {
        let process: SpawnedProcess
        let log: String

        static func start(_ configPath: String, log: String) throws -> Daemon {
            let process = try SpawnedProcess.spawn(
                ServeCommandTests.dispatchCloud,
                ["serve", "--config", configPath],
                stderr: .file(log)
            )
            return Daemon(process: process, log: log)
        }

        var logText: String { (try? String(contentsOfFile: self.log, encoding: .utf8)) ?? "" }
    }

    static func setUp(
        _ directory: TemporaryDirectory,
        processSandboxMode: String? = nil,
        timeoutIdle: String = "2s"
    ) throws -> (StandaloneCluster, String) {
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.managementPort = try LoopbackPort.free()
        cluster.processSandboxMode = processSandboxMode
        cluster.timeoutIdle = timeoutIdle
        let path = try directory.write(cluster.yaml, to: "config.yml")
        return (cluster, path)
    }

    static func client(_ cluster: StandaloneCluster) -> ArvadosClient {
        ArvadosClient(baseURL: URL(string: cluster.apiURL)!, token: cluster.submitterToken)
    }

    static func stdout(_ client: ArvadosClient, _ uuid: ContainerUUID) async throws -> String {
        let page = try await client.logs(
            filters: [
                ArvadosFilter("object_uuid", "=", .string(uuid.rawValue)),
                ArvadosFilter("event_type", "=", .string("stdout")),
            ],
            limit: 1000
        )
        return page.items.compactMap(\.text).joined()
    }

    @Test("demo runs its batch end to end and exits 0")
    func demo() async throws {
        let result = try await ProcessRunner.run(
            URL(fileURLWithPath: Self.dispatchCloud),
            ["demo", "--timeout", "240"]
        )
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("every container ended as expected"))
        #expect(result.stdout.contains("fails") && result.stdout.contains("Complete  3"))
    }

    @Test("serve runs a submitted container, refuses a second daemon on the same data, and stops on SIGTERM")
    func serveSubmitStop() async throws {
        let directory = try TemporaryDirectory(prefix: "serve-cli")
        defer { directory.remove() }
        // The instance must still be there when `instances` runs after the container: a runner of a Complete
        // container frees its worker at once, and 2 s of idle time can pass before the CLI starts under load.
        let (cluster, configPath) = try Self.setUp(directory, timeoutIdle: "5m")
        let daemon = try Daemon.start(configPath, log: directory.file("serve.log"))
        defer { daemon.process.signal(SIGKILL) }
        let client = Self.client(cluster)
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(daemon.logText)")

        let submitted = try await ProcessRunner.run(
            URL(fileURLWithPath: Self.dispatchCloud),
            ["submit", "--vcpus", "1", "--ram", "256MiB", "--", "sh", "-c", "echo hello from serve"],
            environment: ["ARVADOS_API_HOST": cluster.apiURL, "ARVADOS_API_TOKEN": cluster.submitterToken]
        )
        #expect(submitted.status == 0, "stderr: \(submitted.stderr)")
        let uuid = ContainerUUID(rawValue: submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let done = await eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            () async -> Container? in
            guard let container = try? await client.container(uuid), container.state.isFinal else { return nil }
            return container
        }
        #expect(done?.state == .complete && done?.exitCode == 0, "\(daemon.logText)")
        let output = await eventually { try? await Self.stdout(client, uuid).nilIfEmpty }
        #expect(output == "hello from serve\n")

        // The management API and the admin CLI see the instance that ran it.
        let instances = try await ProcessRunner.run(
            URL(fileURLWithPath: Self.dispatchCloud),
            ["instances", "--header", "--config", configPath]
        )
        #expect(instances.status == 0, "stderr: \(instances.stderr)")
        #expect(instances.stdout.hasPrefix("instance\taddress\tstate"), "\(instances.stdout)")
        #expect(instances.stdout.contains("\tsmall\t"), "\(instances.stdout)")
        let port = try #require(cluster.managementPort)
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        request.setValue("Bearer \(cluster.managementToken)", forHTTPHeaderField: "Authorization")
        let (body, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let metrics = String(decoding: body, as: UTF8.self)
        #expect(metrics.contains("arvados_dispatchcloud_instances_total{"), "\(metrics.prefix(2000))")
        #expect(metrics.contains("arvados_dispatchcloud_queue_entries"))
        #expect(metrics.contains("arvados_dispatchcloud_max_concurrent_containers"))
        let unauthorized = try await URLSession.shared.data(
            from: URL(string: "http://127.0.0.1:\(port)/arvados/v1/dispatch/instances")!
        )
        #expect((unauthorized.1 as? HTTPURLResponse)?.statusCode == 401)

        let second = try await ProcessRunner.run(
            URL(fileURLWithPath: Self.dispatchCloud),
            ["serve", "--config", configPath]
        )
        #expect(second.status == 1)
        #expect(second.stderr.contains("another dispatch-cloud (pid \(daemon.process.pid))"), "\(second.stderr)")

        daemon.process.signal(SIGTERM)
        #expect(await daemon.process.wait() == .exited(0), "\(daemon.logText)")
    }

    @Test("serve refuses a configuration without SystemRootToken with exit status 2")
    func missingToken() async throws {
        let directory = try TemporaryDirectory(prefix: "serve-cli")
        defer { directory.remove() }
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.rootToken = "\"\""
        let path = try directory.write(cluster.yaml, to: "config.yml")
        let result = try await ProcessRunner.run(URL(fileURLWithPath: Self.dispatchCloud), ["serve", "--config", path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("SystemRootToken"), "\(result.stderr)")
    }

    @Test(
        "After kill -9 with 20 containers running, a restarted daemon adopts the instances and every container finishes once"
    )
    func killNineRestart() async throws {
        let directory = try TemporaryDirectory(prefix: "serve-restart")
        defer { directory.remove() }
        // Loopback containers leave marks in this test's directory: unsandboxed, so they can reach it.
        let (cluster, configPath) = try Self.setUp(directory, processSandboxMode: "none")
        let client = Self.client(cluster)
        var daemon = try Daemon.start(configPath, log: directory.file("serve-1.log"))
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(daemon.logText)")

        // Loopback instances run on this host: each container leaves a mark here when it starts.
        let ranFile = directory.file("ran")
        var uuids: [ContainerUUID] = []
        for index in 0..<20 {
            let container = try await client.createContainer([
                "command": .array(
                    ["sh", "-c", "echo start-\(index); echo \(index) >> \(ranFile); sleep 4; echo end-\(index)"]
                        .map(JSONValue.string)
                ),
                "container_image": .string("test-image"),
                "output_path": .string("/tmp"),
                "priority": .int(Int64(100 + index)),
                "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(128 << 20)]),
            ])
            uuids.append(container.uuid)
        }
        let filter = ArvadosFilter("uuid", "in", .array(uuids.map { .string($0.rawValue) }))
        let running = await eventually(timeout: .seconds(90), interval: .milliseconds(100)) { () async -> Int? in
            let page = try? await client.containers(filters: [filter], limit: 100)
            let count = page?.items.filter { $0.state == .running }.count ?? 0
            return count >= 4 ? count : nil
        }
        try #require(running != nil, "no container started: \(daemon.logText)")
        daemon.process.signal(SIGKILL)
        #expect(await daemon.process.wait() == .signalled(SIGKILL))

        daemon = try Daemon.start(configPath, log: directory.file("serve-2.log"))
        defer { daemon.process.signal(SIGKILL) }
        let finished = await eventually(timeout: .seconds(180), interval: .milliseconds(250)) {
            () async -> [Container]? in
            guard let page = try? await client.containers(filters: [filter], limit: 100),
                page.items.count == uuids.count, page.items.allSatisfy(\.state.isFinal)
            else { return nil }
            return page.items
        }
        let containers = try #require(finished, "not every container finished: \(daemon.logText)")
        for container in containers {
            #expect(
                container.state == .complete && container.exitCode == 0,
                "\(container.uuid): \(container.runtimeStatus)"
            )
        }
        // Exactly once: every container started once.
        let marks = (try String(contentsOfFile: ranFile, encoding: .utf8)).split(separator: "\n").compactMap { Int($0) }
        #expect(marks.sorted() == Array(0..<20), "\(marks.sorted())")
        for (index, uuid) in uuids.enumerated() {
            // The output survived the restart (a line written while the API was down may be stored twice: a
            // log write that reached the dying server unanswered is retried).
            let output = await eventually { () async -> String? in
                let text = try? await Self.stdout(client, uuid)
                return text?.contains("end-\(index)\n") == true ? text : nil
            }
            #expect(output?.contains("start-\(index)\n") == true, "container \(index): \(output ?? "no output")")
        }
        // Adopted, not leaked: once idle, the instances are shut down, and no record is left.
        let instancesDirectory = cluster.dataDirectory + "/loopback/instances"
        let empty = await eventually(timeout: .seconds(60), interval: .milliseconds(250)) { () -> Bool? in
            let left = (try? FileManager.default.contentsOfDirectory(atPath: instancesDirectory)) ?? []
            return left.isEmpty ? true : nil
        }
        #expect(empty == true, "instances left: \(daemon.logText)")
        daemon.process.signal(SIGTERM)
        #expect(await daemon.process.wait() == .exited(0))
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { self.isEmpty ? nil : self }
}
