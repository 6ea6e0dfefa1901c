import ArvadosAPI
import ContainerRunner
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Hostile input and bad days for `dispatch-runner` (issue 13, finding 6): sizes and durations that overflow,
/// lock directories holding FIFOs, garbage or a lock another process keeps, bad UUIDs, unreachable APIs.
@Suite("Runner robustness")
struct RunnerRobustnessTests {
    typealias Node = RunnerProcessTests.Node

    /// What a bounded run of the runner gave: its output, how long it took, and whether it had to be killed.
    struct BoundedRun {
        struct Output {
            var status: Int32
            var stdout: String
            var stderr: String
        }
        var output: Output
        var elapsed: Duration
        var timedOut: Bool
    }

    /// Runs the runner, killing it after `limit`: a hang fails the test instead of wedging the suite.
    static func runBounded(
        _ node: Node,
        _ arguments: [String],
        stdin: String = "",
        limit: Duration = .seconds(58)
    ) async throws -> BoundedRun {
        let files = try TemporaryDirectory(prefix: "runner-bounded")
        defer { files.remove() }
        let stdinPath = try files.write(stdin, to: "stdin")
        let stdoutPath = try files.write("", to: "stdout")
        let stderrPath = try files.write("", to: "stderr")
        let started = ContinuousClock.now
        let process = try SpawnedProcess.spawn(
            RunnerProcessTests.runner.path,
            arguments,
            environment: ProcessInfo.processInfo.environment.merging(node.environment) { $1 },
            stdin: .file(stdinPath),
            stdout: .file(stdoutPath),
            stderr: .file(stderrPath)
        )
        let watchdog = Task {
            try await Task.sleep(for: limit)
            process.signal(SIGKILL)
        }
        let status = await process.wait().status
        let timedOut = watchdog.isCancelled == false && ContinuousClock.now - started >= limit
        watchdog.cancel()
        return BoundedRun(
            output: BoundedRun.Output(
                status: status,
                stdout: try String(contentsOfFile: stdoutPath, encoding: .utf8),
                stderr: try String(contentsOfFile: stderrPath, encoding: .utf8)
            ),
            elapsed: ContinuousClock.now - started,
            timedOut: timedOut
        )
    }

    static func document(env: [String: String], container: JSONValue? = nil) throws -> String {
        var document: [String: JSONValue] = ["Env": .object(env.mapValues { .string($0) }), "KeepBuffers": .int(0)]
        if let container { document["Container"] = container }
        return String(decoding: try JSONEncoder().encode(document), as: UTF8.self)
    }

    // MARK: - Durations and sizes

    @Test("max_run_time of Int64.max is no limit: the container runs to Complete instead of crashing the runner")
    func hugeMaxRunTime() async throws {
        let node = try Node()
        try await EmbeddedContainerAPI.with { api in
            let container = try await RunnerProcessTests.lockedContainer(api, command: ["sh", "-c", "echo ran"])
            // The record as the dispatcher sends it, with the hostile limit (the API may refuse to store it).
            var record = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(container))
            if case .object(var fields) = record {
                fields["scheduling_parameters"] = .object(["max_run_time": .int(Int64.max)])
                record = .object(fields)
            }
            let run = try await Self.runBounded(
                node,
                ["--detach", "--stdin-config", "--runtime-engine=process", container.uuid.rawValue],
                stdin: try Self.document(env: api.runnerEnvironment, container: record)
            )
            #expect(run.output.status == 0, "stderr: \(run.output.stderr)")
            let finished = try #require(
                try await RunnerProcessTests.waitForState(api, container.uuid, [.complete, .cancelled])
            )
            #expect(finished.state == .complete, "runtime_status: \(finished.runtimeStatus)")
            #expect(finished.exitCode == 0)
        }
    }

    @Test(
        "The watchdog's delay saturates: no limit at or below 0 or beyond a century, never a trap",
        arguments: [Int.min, -1, 0, 1, 3600, 100 * 365 * 24 * 3600, 100 * 365 * 24 * 3600 + 1, Int(Int32.max), Int.max]
    )
    func watchdogDelay(seconds: Int) {
        let delay = ContainerSupervisor.watchdogDelay(maxRunTime: seconds)
        if seconds > 0 && seconds <= ContainerSupervisor.longestMaxRunTime {
            #expect(delay == .seconds(seconds))
        } else {
            #expect(delay == nil)
        }
    }

    @Test("A record the runner cannot read ends Cancelled with runtime_status.error saying why")
    func unreadableRecord() async throws {
        let node = try Node()
        try await EmbeddedContainerAPI.with { api in
            let container = try await RunnerProcessTests.lockedContainer(api, command: ["true"])
            // The runner fetches the record through a proxy that spoils max_run_time (1e30 fits no integer).
            let proxy = try await RecordSpoilingProxy.start(upstream: api.url, uuid: container.uuid)
            defer { proxy.stop() }
            var env = api.runnerEnvironment
            env["ARVADOS_API_HOST"] = proxy.url
            let run = try await Self.runBounded(
                node,
                ["--detach", "--stdin-config", container.uuid.rawValue],
                stdin: try Self.document(env: env)
            )
            #expect(run.output.status == 1)
            #expect(run.output.stderr.contains("cannot fetch"), "\(run.output.stderr)")
            // The supervisor reports the failure first, then cancels the container.
            let finished = try #require(
                try await RunnerProcessTests.waitForState(api, container.uuid, [.cancelled]),
                "stderr: \(run.output.stderr)"
            )
            let error = finished.runtimeStatus["error"]?.stringValue ?? ""
            #expect(error.contains("cannot read the container record"), "\(finished.runtimeStatus)")
        }
    }

    // MARK: - Lock files

    @Test("--list skips a FIFO named like a lock file, and --detach and --kill refuse one, without blocking")
    func fifoLockFile() async throws {
        let node = try Node()
        try FileManager.default.createDirectory(atPath: node.lockDirectory, withIntermediateDirectories: true)
        let uuid = "zzzzz-dz642-fifofifofifofif"
        #expect(mkfifo(node.lockDirectory + "/crunch-run-\(uuid).lock", 0o600) == 0)

        let list = try await Self.runBounded(node, ["--list"], limit: .seconds(58))
        #expect(!list.timedOut)
        #expect(list.output.status == 0, "stderr: \(list.output.stderr)")
        #expect(list.output.stdout == "")
        #expect(list.output.stderr.contains("not a regular file"), "\(list.output.stderr)")

        let kill = try await Self.runBounded(node, ["--kill", "15", uuid], limit: .seconds(58))
        #expect(!kill.timedOut)
        #expect(kill.output.status == 1)
        #expect(kill.output.stderr.contains("not a regular file"), "\(kill.output.stderr)")

        let detach = try await Self.runBounded(
            node,
            ["--detach", "--stdin-config", uuid],
            stdin: try Self.document(env: ["ARVADOS_API_HOST": "http://127.0.0.1:9", "ARVADOS_API_TOKEN": "t"]),
            limit: .seconds(58)
        )
        #expect(!detach.timedOut)
        #expect(detach.output.status == 1)
        #expect(detach.output.stderr.contains("not a regular file"), "\(detach.output.stderr)")
    }

    @Test("A symbolic link named like a lock file is not followed")
    func symlinkLockFile() async throws {
        let node = try Node()
        try FileManager.default.createDirectory(atPath: node.lockDirectory, withIntermediateDirectories: true)
        let target = node.directory.file("elsewhere")
        try "precious\n".write(toFile: target, atomically: true, encoding: .utf8)
        let uuid = "zzzzz-dz642-symlinksymlinks"
        try FileManager.default.createSymbolicLink(
            atPath: node.lockDirectory + "/crunch-run-\(uuid).lock",
            withDestinationPath: target
        )
        let detach = try await Self.runBounded(
            node,
            ["--detach", "--stdin-config", uuid],
            stdin: try Self.document(env: ["ARVADOS_API_HOST": "http://127.0.0.1:9", "ARVADOS_API_TOKEN": "t"])
        )
        #expect(detach.output.status == 1)
        #expect(detach.output.stderr.contains("symbolic link"), "\(detach.output.stderr)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious\n")
    }

    @Test("While another process holds crunch-run-all.lock, --list answers in bounded time and --detach says why")
    func directoryLockHeld() async throws {
        let node = try Node()
        try FileManager.default.createDirectory(atPath: node.lockDirectory, withIntermediateDirectories: true)
        let abandoned = "zzzzz-dz642-abandoneddddddd"
        let abandonedFile = node.lockDirectory + "/crunch-run-\(abandoned).lock"
        try "{\"UUID\":\"\(abandoned)\",\"PID\":1}\n".write(toFile: abandonedFile, atomically: true, encoding: .utf8)
        let directoryLock = node.lockDirectory + "/crunch-run-all.lock"
        let holder = try await Self.holdLock(directoryLock)
        defer { holder.terminate() }

        let list = try await Self.runBounded(node, ["--list"], limit: .seconds(58))
        #expect(!list.timedOut)
        #expect(list.elapsed < .seconds(55))  // a bound against blocking, not a speed test
        #expect(list.output.status == 0, "stderr: \(list.output.stderr)")
        #expect(list.output.stderr.contains("crunch-run-all.lock"), "\(list.output.stderr)")
        // Without the directory lock an abandoned lock file is left for a later listing, not removed.
        #expect(FileManager.default.fileExists(atPath: abandonedFile))

        let detach = try await Self.runBounded(
            node,
            ["--detach", "--stdin-config", "zzzzz-dz642-000000000000001"],
            stdin: try Self.document(env: ["ARVADOS_API_HOST": "http://127.0.0.1:9", "ARVADOS_API_TOKEN": "t"]),
            limit: .seconds(58)
        )
        #expect(!detach.timedOut)
        #expect(detach.output.status == 1)
        #expect(detach.output.stderr.contains("crunch-run-all.lock"), "\(detach.output.stderr)")

        holder.terminate()
        _ = await holder.wait()
        #expect(try await node.list() == RunnerList())
        #expect(!FileManager.default.fileExists(atPath: abandonedFile))
    }

    /// A process (bash, then sleep) holding an exclusive `flock` on `file` (made if missing), once the lock is
    /// seen held.
    static func holdLock(_ file: String) async throws -> SpawnedProcess {
        let holder = try SpawnedProcess.spawn("/bin/bash", ["-c", "exec 9<>\"$0\"; flock 9; exec sleep 300", file])
        let held = await eventually { () -> Bool? in
            let fd = open(file, O_RDONLY)
            defer { if fd >= 0 { close(fd) } }
            return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 ? true : nil
        }
        if held != true { holder.terminate() }
        try #require(held == true, "the lock holder never took the lock")
        return holder
    }

    @Test(
        "--kill on a held lock holding garbage exits non-zero having signalled nothing, and says why",
        arguments: ["", "garbage\n", "{\"UUID\":\"zzzzz-dz642-000000000000002\",\"PID\":HOLDER}\n"]
    )
    func killGarbageLock(content: String) async throws {
        let node = try Node()
        try FileManager.default.createDirectory(atPath: node.lockDirectory, withIntermediateDirectories: true)
        let uuid = "zzzzz-dz642-000000000000001"
        let file = node.lockDirectory + "/crunch-run-\(uuid).lock"
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        let holder = try await Self.holdLock(file)
        defer { holder.terminate() }
        // Written in place (same file, still held); a record naming another container names the holder itself,
        // so a runner that trusted it would stop the holder.
        let text = content.replacingOccurrences(of: "HOLDER", with: String(holder.pid))
        let handle = try #require(FileHandle(forWritingAtPath: file))
        handle.write(Data(text.utf8))
        try handle.close()
        let killed = try await Self.runBounded(node, ["--kill", "15", uuid])
        #expect(killed.output.status == 1)
        #expect(killed.output.stderr.contains("nothing signalled"), "\(killed.output.stderr)")
        #expect(holder.isRunning)
    }

    @Test("A held lock recording PID 0 or below is listed stale, never as a runner to signal")
    func nonPositivePID() async throws {
        let node = try Node()
        try FileManager.default.createDirectory(atPath: node.lockDirectory, withIntermediateDirectories: true)
        let uuid: ContainerUUID = "zzzzz-dz642-000000000000003"
        let file = node.lockDirectory + "/crunch-run-\(uuid).lock"
        try "{\"UUID\":\"\(uuid)\",\"PID\":-1}\n".write(toFile: file, atomically: true, encoding: .utf8)
        let holder = try await Self.holdLock(file)
        defer { holder.terminate() }
        // In process, so no kill(-1, …) can ever be sent by a regression: listing only.
        let lockDirectory = LockDirectory(path: node.lockDirectory)
        var problems: [String] = []
        #expect(try lockDirectory.list { problems.append($0) } == RunnerList(stale: [uuid]))
        #expect(problems.contains { $0.contains("PID -1") }, "\(problems)")
    }

    // MARK: - UUIDs and the API address

    @Test(
        "Invalid UUIDs are refused with exit status 2 in every mode, and no lock file is made",
        arguments: [
            ["--detach", "--stdin-config", ""], ["--detach", "--stdin-config", "zzzzz-dz642-"],
            ["--detach", "--stdin-config", "../../etc/passwd"], ["--no-detach", "--stdin-config", "x"],
            ["--kill", "15", ""], ["--kill", "15", "ZZZZZ-DZ642-000000000000001"],
            ["--kill", "9", "zzzzz-j7d0g-000000000000001"],
        ]
    )
    func invalidUUID(arguments: [String]) async throws {
        let node = try Node()
        let run = try await Self.runBounded(
            node,
            arguments,
            stdin: try Self.document(env: ["ARVADOS_API_HOST": "http://127.0.0.1:9", "ARVADOS_API_TOKEN": "t"])
        )
        #expect(run.output.status == 2, "stderr: \(run.output.stderr)")
        #expect(run.output.stderr.contains("not a container UUID"), "\(run.output.stderr)")
        let made = (try? FileManager.default.contentsOfDirectory(atPath: node.lockDirectory)) ?? []
        #expect(!made.contains { $0.hasPrefix("crunch-run-") && $0 != "crunch-run-all.lock" }, "\(made)")
    }

    @Test("--detach against an https:// or scheme-less address served by plain HTTP fails in seconds with the cause")
    func httpsAgainstPlainHTTP() async throws {
        let node = try Node()
        try await EmbeddedContainerAPI.with { api in
            let container = try await RunnerProcessTests.lockedContainer(api, command: ["true"])
            let port = try #require(api.url.port)
            for host in ["https://127.0.0.1:\(port)", "127.0.0.1:\(port)", "localhost:\(port)"] {
                let run = try await Self.runBounded(
                    node,
                    ["--detach", "--stdin-config", container.uuid.rawValue],
                    stdin: try Self.document(env: ["ARVADOS_API_HOST": host, "ARVADOS_API_TOKEN": api.rootToken]),
                    limit: .seconds(58)
                )
                #expect(run.elapsed < .seconds(55), "\(host): took \(run.elapsed)")
                #expect(run.output.status == 1)
                #expect(run.output.stderr.contains("TLS handshake failed"), "\(host): \(run.output.stderr)")
                #expect(!run.output.stderr.contains(api.rootToken))
            }
            // The container is untouched: still Locked, for the dispatcher to unlock or retry.
            #expect(try await api.rootClient.container(container.uuid).state == .locked)
        }
    }

    @Test("--detach against a closed port fails in seconds with connection refused")
    func connectionRefused() async throws {
        let node = try Node()
        let port = try LoopbackPort.free()
        let run = try await Self.runBounded(
            node,
            ["--detach", "--stdin-config", "zzzzz-dz642-000000000000001"],
            stdin: try Self.document(env: ["ARVADOS_API_HOST": "https://127.0.0.1:\(port)", "ARVADOS_API_TOKEN": "t"]),
            limit: .seconds(58)
        )
        #expect(run.elapsed < .seconds(55), "took \(run.elapsed)")
        #expect(run.output.status == 1)
        #expect(run.output.stderr.lowercased().contains("connection refused"), "\(run.output.stderr)")
    }

    @Test(
        "Malformed API addresses and missing tokens are refused before anything starts, naming the variable",
        arguments: [
            ("ftp://127.0.0.1:1", "scheme"), ("http://user:secret-token@127.0.0.1:1", "credentials"),
            ("127.0.0.1:99999", "port"), ("http://:80", "no host"), ("http://127.0.0.1 :80", "spaces"),
            ("", "required"),
        ]
    )
    func malformedAddress(host: String, problem: String) async throws {
        let node = try Node()
        let run = try await Self.runBounded(
            node,
            ["--detach", "--stdin-config", "zzzzz-dz642-000000000000001"],
            stdin: try Self.document(env: ["ARVADOS_API_HOST": host, "ARVADOS_API_TOKEN": "secret-token"])
        )
        #expect(run.elapsed < .seconds(55))  // the old runner blocked 60 s; the machine may be loaded
        #expect(run.output.status == 2, "stderr: \(run.output.stderr)")
        #expect(run.output.stderr.contains("ARVADOS_API_HOST"))
        #expect(run.output.stderr.contains(problem), "\(run.output.stderr)")
        #expect(!run.output.stderr.contains("secret-token"))
        // Refused before the lock: nothing was made for the container.
        #expect(
            !FileManager.default.fileExists(atPath: node.lockDirectory + "/crunch-run-zzzzz-dz642-000000000000001.lock")
        )
    }

    @Test(
        "API addresses: scheme-less means https, http:// and https:// as given",
        arguments: [
            ("zzzzz.example.com", "https://zzzzz.example.com"), ("127.0.0.1:9005", "https://127.0.0.1:9005"),
            ("http://127.0.0.1:9005", "http://127.0.0.1:9005"), ("HTTPS://h:443/", "https://h/"),
            ("[::1]:8443", "https://[::1]:8443"),
        ]
    )
    func addressForms(value: String, expected: String) throws {
        #expect(try APIAddress(parsing: value).description == expected)
    }
}

/// A tiny HTTP proxy on 127.0.0.1 that forwards to the embedded API and, in one container's record, replaces
/// `max_run_time` by a number no integer holds.
final class RecordSpoilingProxy: Sendable {
    let url: String
    private let server: SpawnedProcess

    private init(url: String, server: SpawnedProcess) {
        self.url = url
        self.server = server
    }

    static func start(upstream: URL, uuid: ContainerUUID) async throws -> RecordSpoilingProxy {
        let port = try LoopbackPort.free()
        let script = """
            import http.server, urllib.request, sys
            upstream, uuid, port = sys.argv[1].rstrip('/'), sys.argv[2], int(sys.argv[3])
            class Handler(http.server.BaseHTTPRequestHandler):
                def forward(self):
                    length = int(self.headers.get('Content-Length') or 0)
                    body = self.rfile.read(length) if length else None
                    request = urllib.request.Request(upstream + self.path, data=body, method=self.command)
                    for key in ('Authorization', 'Content-Type'):
                        if self.headers.get(key): request.add_header(key, self.headers[key])
                    try:
                        response = urllib.request.urlopen(request)
                        status, data = response.status, response.read()
                    except urllib.error.HTTPError as error:
                        status, data = error.code, error.read()
                    if self.command == 'GET' and uuid in self.path:
                        data = data.replace(b'"max_run_time":0', b'"max_run_time":1e30')
                    self.send_response(status)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                do_GET = do_PUT = do_POST = do_PATCH = forward
                def log_message(self, *args): pass
            http.server.ThreadingHTTPServer(('127.0.0.1', port), Handler).serve_forever()
            """
        let server = try SpawnedProcess.spawn(
            "/usr/bin/python3",
            ["-c", script, upstream.absoluteString, uuid.rawValue, String(port)]
        )
        do {
            try await LoopbackPort.waitUntilAccepting(port)
        } catch {
            server.signal(SIGKILL)
            throw error
        }
        return RecordSpoilingProxy(url: "http://127.0.0.1:\(port)", server: server)
    }

    func stop() { self.server.signal(SIGKILL) }
}
