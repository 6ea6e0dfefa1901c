import ArvadosAPI
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What a new user met with `dispatch-cloud serve` (issue 16): cancel by the owner, `submit --wait`, the
/// refusal at create, the log format, a busy port and the signal that stops it.
@Suite("A new user's daemon", .serialized)
struct ServeNewUserTests {
    static let dispatchCloud = ProcessRunner.product("dispatch-cloud")

    static func run(_ arguments: [String], _ cluster: StandaloneCluster) async throws -> ProcessOutput {
        try await ProcessRunner.run(
            Self.dispatchCloud,
            arguments,
            environment: ["ARVADOS_API_HOST": cluster.apiURL, "ARVADOS_API_TOKEN": cluster.submitterToken]
        )
    }

    @Test("serve: cancel stops a running container for its owner, submit --wait exits with its code, JSON logs")
    func daemon() async throws {
        let directory = try TemporaryDirectory(prefix: "serve-new-user")
        defer { directory.remove() }
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.managementPort = try LoopbackPort.free()
        let configPath = try directory.write(cluster.yaml, to: "config.yml")
        let logPath = directory.file("serve.log")
        let daemon = try SpawnedProcess.spawn(
            Self.dispatchCloud.path,
            ["serve", "--config", configPath],
            stderr: .file(logPath)
        )
        defer { daemon.signal(SIGKILL) }
        let logText = { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        let client = ArvadosClient(baseURL: URL(string: cluster.apiURL)!, token: cluster.submitterToken)
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(logText())")

        // 4. Refused at create: no type has 64 VCPUs.
        let tooBig = try await Self.run(["submit", "--vcpus", "64", "--", "true"], cluster)
        #expect(tooBig.status == 1)
        #expect(
            tooBig.stderr.contains("422") && tooBig.stderr.contains("no configured instance type"),
            "\(tooBig.stderr)"
        )

        // 4. submit --wait streams the output and exits with the container's exit code.
        let waited = try await Self.run(
            ["submit", "--wait", "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7"],
            cluster
        )
        #expect(waited.status == 7, "stdout: \(waited.stdout)\nstderr: \(waited.stderr)\nlog: \(logText())")
        #expect(waited.stdout == "to-stdout\n", "\(waited.stdout)")
        #expect(waited.stderr.contains("to-stderr\n"), "\(waited.stderr)")
        #expect(waited.stderr.contains("Complete, exit code 7"), "\(waited.stderr)")

        // 1. The owner cancels a running container: priority 0, the dispatcher stops it, it ends Cancelled.
        let submitted = try await Self.run(["submit", "--", "sleep", "300"], cluster)
        let uuid = ContainerUUID(rawValue: submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let running = await eventually(timeout: .seconds(60), interval: .milliseconds(200)) { () async -> Bool? in
            (try? await client.container(uuid).state) == .running ? true : nil
        }
        try #require(running == true, "\(logText())")
        let cancelled = try await Self.run(["cancel", uuid.rawValue], cluster)
        #expect(cancelled.status == 0, "stdout: \(cancelled.stdout)\nstderr: \(cancelled.stderr)\nlog: \(logText())")
        #expect(cancelled.stdout.contains("\(uuid) Cancelled"), "\(cancelled.stdout)")
        #expect(try await client.container(uuid).state == .cancelled)

        // 3 and 7. SIGTERM is logged, and so is the clean stop; 6: every line is a JSON object.
        daemon.signal(SIGTERM)
        let stopped = await eventually(timeout: .seconds(60)) { daemon.termination }
        #expect(stopped?.status == 0, "\(logText())")
        let log = logText()
        #expect(log.contains("Signal received: stopping gracefully"), "\(log)")
        #expect(log.contains("\"msg\":\"Dispatcher stopped\""), "\(log)")
        for line in log.split(separator: "\n") {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["msg"] is String && object?["level"] is String, "not a JSON log line: \(line)")
        }
    }

    @Test("serve names the listen address that is in use, and its key, before starting anything")
    func busyPort() async throws {
        let directory = try TemporaryDirectory(prefix: "serve-busy")
        defer { directory.remove() }
        let squatter = try SilentListener()
        defer { squatter.close() }
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: squatter.port)
        cluster.managementPort = try LoopbackPort.free()
        let configPath = try directory.write(cluster.yaml, to: "config.yml")
        let logPath = directory.file("serve.log")
        let daemon = try SpawnedProcess.spawn(
            Self.dispatchCloud.path,
            ["serve", "--config", configPath, "--log-format", "text"],
            stderr: .file(logPath)
        )
        defer { daemon.signal(SIGKILL) }
        let ended = await eventually(timeout: .seconds(60)) { daemon.termination }
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(ended?.status == 1, "\(log)")
        #expect(log.contains("error: cannot listen on 127.0.0.1:\(squatter.port)"), "\(log)")
        #expect(log.contains("Services.Controller.InternalURLs"), "\(log)")
        #expect(log.contains("address already in use"), "\(log)")
        #expect(!log.contains("Dispatcher starting"), "\(log)")
    }
}
