import ArvadosAPI
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `dispatch-runner` driven through its command line, running real processes against the embedded API.
@Suite("Runner processes")
struct RunnerProcessTests {
    static let runner = ProcessRunner.product("dispatch-runner")

    /// A private lock directory and the environment that points the runner at it.
    struct Node {
        let directory: TemporaryDirectory
        var lockDirectory: String { self.directory.file("lock") }
        var environment: [String: String] {
            [
                "DISPATCH_RUNNER_LOCK_DIR": self.lockDirectory,
                "DISPATCH_RUNNER_WORK_DIR": self.directory.file("work"),
            ]
        }

        init() throws { self.directory = try TemporaryDirectory(prefix: "runner-test") }

        func run(_ arguments: [String], stdin: String? = nil) async throws -> ProcessOutput {
            try await ProcessRunner.run(
                RunnerProcessTests.runner,
                arguments,
                environment: self.environment,
                stdin: stdin
            )
        }

        func list() async throws -> RunnerList {
            let output = try await self.run(["--list"])
            #expect(output.status == 0, "stderr: \(output.stderr)")
            return RunnerList(parsing: output.stdout, clusterID: "zzzzz")
        }
    }

    /// The `--stdin-config` document the dispatcher sends, with the locked record when given.
    static func config(_ api: EmbeddedContainerAPI, container: Container? = nil) throws -> String {
        var document: [String: JSONValue] = [
            "Env": .object(api.runnerEnvironment.mapValues { .string($0) }),
            "KeepBuffers": .int(0),
        ]
        if let container {
            document["Container"] = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(container))
        }
        return String(decoding: try JSONEncoder().encode(document), as: UTF8.self)
    }

    /// Creates and locks a container, as the dispatcher does before starting it.
    static func lockedContainer(
        _ api: EmbeddedContainerAPI,
        command: [String],
        _ attributes: [String: JSONValue] = [:]
    ) async throws -> Container {
        let container = try await api.createContainer(command: command, attributes)
        return try await api.rootClient.lockContainer(container.uuid)
    }

    static func detach(
        _ node: Node,
        _ api: EmbeddedContainerAPI,
        _ uuid: ContainerUUID,
        record: Container? = nil
    ) async throws -> ProcessOutput {
        try await node.run(
            ["--detach", "--stdin-config", "--runtime-engine=process", "--some-crunch-run-flag=1", uuid.rawValue],
            stdin: try Self.config(api, container: record)
        )
    }

    static func waitForState(
        _ api: EmbeddedContainerAPI,
        _ uuid: ContainerUUID,
        _ states: Set<ContainerState>
    ) async throws -> Container? {
        try await eventually {
            let container = try await api.rootClient.container(uuid)
            return states.contains(container.state) ? container : nil
        }
    }

    static func logText(_ api: EmbeddedContainerAPI, _ uuid: ContainerUUID, _ event: String) async throws -> String {
        let logs = try await api.rootClient.logs(filters: [
            ArvadosFilter("object_uuid", "=", .string(uuid.rawValue)), ArvadosFilter("event_type", "=", .string(event)),
        ])
        return logs.items.compactMap(\.text).joined()
    }

    @Test("A detached container runs to Complete with its exit code, and its output reaches the logs")
    func runsToCompletion() async throws {
        let node = try Node()
        try await EmbeddedContainerAPI.with { api in
            let container = try await Self.lockedContainer(
                api,
                command: ["sh", "-c", "echo to-stdout; echo to-stderr >&2; echo \"$GREETING\"; exit 3"],
                ["environment": .object(["GREETING": .string("hello from env")])]
            )
            let detached = try await Self.detach(node, api, container.uuid)
            #expect(detached.status == 0, "stderr: \(detached.stderr)")
            #expect(detached.stdout.contains("\"UUID\":\"\(container.uuid)\""))
            let finished = try #require(try await Self.waitForState(api, container.uuid, [.complete, .cancelled]))
            #expect(finished.state == .complete)
            #expect(finished.exitCode == 3)
            let stdout = try #require(
                try await eventually { () async throws -> String? in
                    let text = try await Self.logText(api, container.uuid, "stdout")
                    return text.contains("hello from env") ? text : nil
                }
            )
            #expect(stdout.contains("to-stdout"))
            #expect(try await Self.logText(api, container.uuid, "stderr").contains("to-stderr"))
            #expect(try await node.list() == RunnerList())
            // The runner finalized the container: its own log goes with it.
            let log = "\(node.lockDirectory)/crunch-run-\(container.uuid).log"
            let removed = await eventually { () async -> Bool? in
                FileManager.default.fileExists(atPath: log) ? nil : true
            }
            #expect(removed == true, "\(log) is still there")
        }
    }

    @Test("--no-detach supervises in the foreground: the container runs to Complete and the runner exits 0")
    func foreground() async throws {
        let node = try Node()
        try await EmbeddedContainerAPI.with { api in
            let container = try await Self.lockedContainer(api, command: ["sh", "-c", "echo in-the-foreground"])
            // What --detach starts when it cannot fork (a multithreaded process): a fresh copy of the program.
            let output = try await node.run(
                ["--no-detach", "--stdin-config", "--runtime-engine=process", container.uuid.rawValue],
                stdin: try Self.config(api)
            )
            #expect(output.status == 0, "stderr: \(output.stderr)")
            #expect(output.stderr.contains("supervising \(container.uuid) (pid "))
            #expect(output.stderr.contains(", executed)"))
            let finished = try await api.rootClient.container(container.uuid)
            #expect(finished.state == .complete)
            #expect(finished.exitCode == 0)
            #expect(try await Self.logText(api, container.uuid, "stdout") == "in-the-foreground\n")
        }
    }

    @Test("A runner given the locked record starts that command without fetching, then moves it to Running")
    func givenRecord() async throws {
        let node = try Node()
        try await EmbeddedContainerAPI.with { api in
            let container = try await Self.lockedContainer(api, command: ["sh", "-c", "echo from-the-api"])
            // The record the dispatcher sends is the one it locked; a different command here shows which one ran.
            var record = container
            record.command = ["sh", "-c", "echo from-the-record"]
            let detached = try await Self.detach(node, api, container.uuid, record: record)
            #expect(detached.status == 0, "stderr: \(detached.stderr)")
            let finished = try #require(try await Self.waitForState(api, container.uuid, [.complete, .cancelled]))
            #expect(finished.state == .complete)
            #expect(finished.exitCode == 0)
            let stdout = try #require(
                try await eventually { () async throws -> String? in
                    let text = try await Self.logText(api, container.uuid, "stdout")
                    return text.isEmpty ? nil : text
                }
            )
            #expect(stdout.contains("from-the-record"))
            #expect(!stdout.contains("from-the-api"))
        }
    }

    @Test("A runner whose move to Running is refused stops its process and leaves the container alone")
    func refusedRunning() async throws {
        let node = try Node()
        try await EmbeddedContainerAPI.with { api in
            // Locked as far as the record says, but unlocked again (requeued) before the runner reports.
            let container = try await Self.lockedContainer(api, command: ["sleep", "300"])
            _ = try await api.rootClient.unlockContainer(container.uuid)
            let detached = try await Self.detach(node, api, container.uuid, record: container)
            #expect(detached.status == 0, "stderr: \(detached.stderr)")
            // The runner stops the process and exits without finalizing: the lock goes, the container stays Queued.
            let gone = try await eventually { () async throws -> Bool? in
                try await node.list().running.isEmpty ? true : nil
            }
            #expect(gone == true)
            #expect(try await api.rootClient.container(container.uuid).state == .queued)
            let supervisorLog = try String(
                contentsOfFile: "\(node.lockDirectory)/crunch-run-\(container.uuid).log",
                encoding: .utf8
            )
            #expect(supervisorLog.contains("refused the move to Running"), "\(supervisorLog)")
        }
    }

    @Test("--list shows a running container, --kill stops it, and it ends Cancelled")
    func listAndKill() async throws {
        let node = try Node()
        try await EmbeddedContainerAPI.with { api in
            let container = try await Self.lockedContainer(api, command: ["sleep", "300"])
            let detached = try await Self.detach(node, api, container.uuid)
            #expect(detached.status == 0, "stderr: \(detached.stderr)")
            #expect(try await Self.waitForState(api, container.uuid, [.running]) != nil)
            #expect(try await node.list().running == [container.uuid])
            // --detach was single-threaded, so it forked the supervisor rather than starting a second program.
            let supervisorLog = try String(
                contentsOfFile: "\(node.lockDirectory)/crunch-run-\(container.uuid).log",
                encoding: .utf8
            )
            #expect(supervisorLog.contains("supervising \(container.uuid) (pid "))
            #expect(supervisorLog.contains(", forked)"), "\(supervisorLog)")

            // A second runner for the same container is refused while the first holds the lock.
            let again = try await Self.detach(node, api, container.uuid)
            #expect(again.status == 1)
            #expect(again.stderr.contains("already running"))

            // As with crunch-run, --kill waits up to a second and exits 1 if the runner is still finishing up;
            // the dispatcher repeats it every TimeoutSignal.
            let killed = try await node.run(["--kill", "15", container.uuid.rawValue])
            #expect(killed.status == 0 || killed.status == 1, "stderr: \(killed.stderr)")
            let finished = try #require(try await Self.waitForState(api, container.uuid, [.complete, .cancelled]))
            #expect(finished.state == .cancelled)
            #expect(try await node.list() == RunnerList())
            // Killing a container with no runner succeeds at once, as crunch-run's does.
            #expect(try await node.run(["--kill", "15", container.uuid.rawValue]).status == 0)
        }
    }

    @Test("A container past its max_run_time is stopped and Cancelled with the reason")
    func maxRunTime() async throws {
        let node = try Node()
        try await EmbeddedContainerAPI.with { api in
            let container = try await Self.lockedContainer(
                api,
                command: ["sleep", "300"],
                ["scheduling_parameters": .object(["max_run_time": .int(1)])]
            )
            #expect(try await Self.detach(node, api, container.uuid).status == 0)
            let finished = try #require(try await Self.waitForState(api, container.uuid, [.complete, .cancelled]))
            #expect(finished.state == .cancelled)
            #expect(finished.runtimeStatus["error"]?.stringValue == "maximum run time exceeded")
        }
    }

    @Test("A command that cannot start fails the detach and cancels the container with the error")
    func commandNotFound() async throws {
        let node = try Node()
        try await EmbeddedContainerAPI.with { api in
            let container = try await Self.lockedContainer(api, command: ["no-such-command-for-dispatch-runner"])
            let detached = try await Self.detach(node, api, container.uuid)
            #expect(detached.status == 1)
            #expect(detached.stderr.contains("command not found"))
            let finished = try #require(try await Self.waitForState(api, container.uuid, [.cancelled]))
            #expect(finished.runtimeStatus["error"]?.stringValue?.contains("command not found") == true)
            // A runner that failed keeps its log for whoever looks into it, after it has exited (its lock gone).
            let exited = try await eventually { () async throws -> Bool? in
                try await node.list() == RunnerList() ? true : nil
            }
            #expect(exited == true)
            let log = try String(
                contentsOfFile: "\(node.lockDirectory)/crunch-run-\(container.uuid).log",
                encoding: .utf8
            )
            #expect(log.contains("supervising \(container.uuid)"), "\(log)")
        }
    }

    @Test("--list reports a lock held by no live runner as stale, the broken marker, and drops abandoned locks")
    func staleBrokenAbandoned() async throws {
        let node = try Node()
        try FileManager.default.createDirectory(atPath: node.lockDirectory, withIntermediateDirectories: true)
        let stale: ContainerUUID = "zzzzz-dz642-staleeeeeeeeeee"
        let abandoned: ContainerUUID = "zzzzz-dz642-abandoneddddddd"
        // A PID that no longer exists: a finished child's.
        let gone = try await ProcessRunner.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "echo $$"])
        let deadPID = try #require(Int32(gone.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let staleFile = node.lockDirectory + "/crunch-run-\(stale).lock"
        try "{\"UUID\":\"\(stale)\",\"PID\":\(deadPID)}\n".write(toFile: staleFile, atomically: true, encoding: .utf8)
        try "{\"UUID\":\"\(abandoned)\",\"PID\":1}\n".write(
            toFile: node.lockDirectory + "/crunch-run-\(abandoned).lock",
            atomically: true,
            encoding: .utf8
        )
        // Something else (think arv-mount) keeps the stale lock held: one process, killed at the end.
        let holder = try SpawnedProcess.spawn(
            "/bin/bash",
            ["-c", "exec 9<>\"$0\"; flock 9; exec sleep 300", staleFile]
        )
        defer { holder.terminate() }
        let held = await eventually { () -> Bool? in
            let fd = open(staleFile, O_RDONLY)
            defer { close(fd) }
            return flock(fd, LOCK_SH | LOCK_NB) == 0 ? nil : true
        }
        #expect(held == true)

        #expect(try await node.list() == RunnerList(stale: [stale]))
        #expect(!FileManager.default.fileExists(atPath: node.lockDirectory + "/crunch-run-\(abandoned).lock"))
        #expect(FileManager.default.createFile(atPath: node.lockDirectory + "/crunch-run-broken", contents: Data()))
        #expect(try await node.list() == RunnerList(stale: [stale], broken: true))
    }

    @Test("Usage errors exit 2 with the reason; --help and --version exit 0")
    func usage() async throws {
        let node = try Node()
        let missingUUID = try await node.run(["--detach"])
        #expect(missingUUID.status == 2)
        #expect(missingUUID.stderr.contains("UUID is required"))
        let badSignal = try await node.run(["--kill", "TERM", "zzzzz-dz642-000000000000001"])
        #expect(badSignal.status == 2)
        #expect(try await node.run(["--help"]).stdout.contains("--detach"))
        #expect(try await node.run(["-version"]).status == 0)
    }
}
