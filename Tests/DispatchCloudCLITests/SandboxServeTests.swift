import ArvadosAPI
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Containers of `dispatch-cloud serve` with the loopback driver and `RuntimeEngine: process`, under the
/// default sandbox (bubblewrap): what one container can reach of this host and of another container.
@Suite(
    "Sandboxed containers through serve",
    .serialized,
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/bwrap"), "bubblewrap is not installed")
)
struct SandboxServeTests {
    static func submit(
        _ client: ArvadosClient,
        _ script: String,
        ram: Int64 = 128 << 20,
        api: Bool = false
    ) async throws -> ContainerUUID {
        try await client.createContainer([
            "command": .array(["sh", "-c", script].map(JSONValue.string)),
            "container_image": .string("test-image"),
            "output_path": .string("/tmp"),
            "cwd": .string("/tmp"),
            "priority": .int(100),
            "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(ram), "API": .bool(api)]),
        ]).uuid
    }

    static func log(_ client: ArvadosClient, _ uuid: ContainerUUID, _ event: String) async throws -> String {
        let page = try await client.logs(
            filters: [
                ArvadosFilter("object_uuid", "=", .string(uuid.rawValue)),
                ArvadosFilter("event_type", "=", .string(event)),
            ],
            limit: 1000
        )
        return page.items.compactMap(\.text).joined()
    }

    static func finished(_ client: ArvadosClient, _ uuid: ContainerUUID) async -> Container? {
        await eventually(timeout: .seconds(120), interval: .milliseconds(200)) { () async -> Container? in
            guard let container = try? await client.container(uuid), container.state.isFinal else { return nil }
            return container
        }
    }

    /// The host directory of a running container: under the runner's work root, or its fallback root.
    static func hostDirectory(of uuid: ContainerUUID) -> String? {
        let temporary = FileManager.default.temporaryDirectory.path
        let primary = "\(temporary)/dispatch-runner/\(uuid.rawValue)"
        if FileManager.default.fileExists(atPath: primary + "/secret") { return primary }
        let fallback = "/tmp/dispatch-runner-sandbox"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fallback)) ?? []
        return names.first { $0.hasPrefix(uuid.rawValue + "-") }.map { "\(fallback)/\($0)" }
    }

    @Test(
        "A container cannot read the configuration, the data directory or another container's directory; others run"
    )
    func isolation() async throws {
        let directory = try TemporaryDirectory(prefix: "serve-sandbox")
        defer { directory.remove() }
        // World-readable on purpose: serve must warn about it, and the sandbox must hide it all the same.
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.managementPort = try LoopbackPort.free()
        let configPath = try directory.write(cluster.yaml, to: "config.yml", permissions: 0o644)
        _ = chmod(directory.path, 0o755)
        let client = ServeCommandTests.client(cluster)
        let daemon = try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve.log"))
        defer { daemon.process.signal(SIGKILL) }
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(daemon.logText)")
        #expect(daemon.logText.contains("the configuration file \(configPath) is readable by every user"))

        // The victim: writes a secret in its own directory and keeps running while the other looks for it.
        let victim = try await Self.submit(client, "echo secret-of-the-victim > secret; echo victim-ready; sleep 8")
        let ready = await eventually(timeout: .seconds(90), interval: .milliseconds(100)) { () async -> Bool? in
            (try? await Self.log(client, victim, "stdout"))?.contains("victim-ready") == true ? true : nil
        }
        try #require(ready != nil, "the victim never started: \(daemon.logText)")
        let victimDirectory = try #require(Self.hostDirectory(of: victim), "the victim's directory is not on the host")
        #expect(
            (try? String(contentsOfFile: victimDirectory + "/secret", encoding: .utf8)) == "secret-of-the-victim\n"
        )

        let data = cluster.dataDirectory
        let targets = [
            configPath, directory.path, data, "\(data)/dispatch-ssh-key.ed25519", "\(data)/loopback",
            "\(victimDirectory)/secret", "/tmp/dispatch-runner/\(victim.rawValue)/secret", "/root", "/etc/shadow",
        ]
        let probes = targets.map { path in
            "if cat '\(path)' >/dev/null || ls '\(path)' >/dev/null; then echo 'LEAK \(path)'; "
                + "else echo 'denied \(path)'; fi"
        }
        let attacker = try await Self.submit(
            client,
            (probes + ["id -u", "grep -c : /proc/net/dev", "echo probe-finished"]).joined(separator: "; ")
        )
        let attacked = try #require(await Self.finished(client, attacker), "the attacker never finished")
        #expect(attacked.state == .complete, "\(attacked.runtimeStatus)")
        let stdout = try await Self.log(client, attacker, "stdout")
        let stderr = try await Self.log(client, attacker, "stderr")
        #expect(stdout.contains("probe-finished"), "stdout: \(stdout)\nstderr: \(stderr)")
        for path in targets {
            #expect(stdout.contains("denied \(path)\n"), "\(path) was readable: \(stdout)")
        }
        #expect(!stdout.contains("LEAK"))
        #expect(!stdout.contains(cluster.rootToken) && !stdout.contains("secret-of-the-victim"))
        // The failures themselves are in the container's log.
        #expect(stderr.contains("\(configPath): No such file or directory"), "stderr: \(stderr)")
        let lines = stdout.split(separator: "\n").map(String.init)
        if getuid() == 0 {
            #expect(lines.contains("65534"), "not running as nobody: \(stdout)")
        }
        #expect(lines.last(where: { Int($0) != nil && $0 != "65534" }) == "1", "network interfaces: \(stdout)")
        let crunchRun = try await Self.log(client, attacker, "crunch-run")
        #expect(crunchRun.contains("sandboxed by bwrap"), "\(crunchRun)")
        #expect(crunchRun.contains("no network"), "\(crunchRun)")

        // With runtime_constraints.API the container shares the host's network (more than its own lo).
        let networked = try await Self.submit(client, "grep -c : /proc/net/dev", api: true)
        let hostInterfaces = try String(contentsOfFile: "/proc/net/dev", encoding: .utf8)
            .split(separator: "\n").filter { $0.contains(":") }.count
        #expect(await Self.finished(client, networked)?.state == .complete)
        #expect(try await Self.log(client, networked, "stdout") == "\(hostInterfaces)\n")

        // The RAM limit holds: 200 MB in a 64 MiB container is refused (killed), while the container's
        // own files and a normal run work.
        let greedy = try await Self.submit(
            client,
            "dd if=/dev/zero of=/dev/null bs=200M count=1 && echo got-the-memory",
            ram: 64 << 20
        )
        let normal = try await Self.submit(client, "echo hello > out.txt && cat out.txt && pwd && ls")
        // The command runs in the container's own memory cgroup, joined before bwrap started: the sandbox's cgroup
        // namespace is rooted there, so the command sees itself at that namespace's root and nothing of the host's
        // cgroup paths.
        let placed = try await Self.submit(client, "grep memory /proc/self/cgroup")
        let greedyDone = try #require(await Self.finished(client, greedy))
        #expect(greedyDone.exitCode != 0, "200 MB fitted in 64 MiB")
        #expect(!(try await Self.log(client, greedy, "stdout")).contains("got-the-memory"))
        let normalDone = try #require(await Self.finished(client, normal))
        #expect(normalDone.state == .complete && normalDone.exitCode == 0, "\(normalDone.runtimeStatus)")
        #expect(try await Self.log(client, normal, "stdout") == "hello\n/tmp\nout.txt\n")
        #expect(await Self.finished(client, placed)?.state == .complete)
        let cgroupLine = try await Self.log(client, placed, "stdout")
        #expect(cgroupLine.hasSuffix(":memory:/\n"), "\(cgroupLine)")
        // The limit that stopped the greedy container is the memory cgroup's, not the address-space fallback.
        let note = try await Self.log(client, greedy, "crunch-run")
        #expect(note.contains("memory limit \(64 << 20) bytes (memory cgroup)"), "\(note)")

        let victimDone = try #require(await Self.finished(client, victim))
        #expect(victimDone.state == .complete && victimDone.exitCode == 0)
        // A finished container's directory goes with everything in it, once it is finalized.
        let removed = await eventually(timeout: .seconds(30), interval: .milliseconds(100)) { () async -> Bool? in
            FileManager.default.fileExists(atPath: victimDirectory) ? nil : true
        }
        #expect(removed == true, "\(victimDirectory) is still there")
        daemon.process.signal(SIGTERM)
        #expect(await daemon.process.wait() == .exited(0))
    }
}
