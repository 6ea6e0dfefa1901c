import ArgumentParser
import ArvadosAPI
import DispatchCloud
import DispatchConfig
import DispatchModel
import Foundation
import Logging
import Synchronization
import WorkerPool

#if canImport(Glibc)
import Glibc
#endif

/// `dispatch-cloud demo`: the README's main command — the standalone stack end to end on this machine.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a batch of sample containers on this machine, end to end.",
        discussion: """
            Starts the standalone stack in a temporary data directory: the embedded container API on \
            127.0.0.1, the loopback driver (instances are SSH servers on 127.0.0.1, each with its own host key), \
            the pool, the queue and the scheduler. Then it submits a batch of containers of different sizes \
            (one of them fails on purpose), shows progress as they are dispatched, prints each result with the \
            instance that ran it, and exits 0 when every container ended as expected. Nothing outside the \
            temporary directory and 127.0.0.1 is touched.
            """
    )

    @Option(help: "How many copies of the sample batch to submit.")
    var copies = 1

    @Option(help: ArgumentHelp("Give up after this many seconds.", valueName: "seconds"))
    var timeout = 300

    @Flag(help: "Show the dispatcher's log (info level) on standard error.")
    var verbose = false

    @Flag(help: "Keep the temporary data directory (its path is printed).")
    var keep = false

    func validate() throws {
        guard (1...100).contains(self.copies) else { throw ValidationError("--copies must be between 1 and 100") }
        guard self.timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    /// One sample container and what it should end with.
    struct Sample {
        var name: String
        var command: [String]
        var vcpus: Int
        var ramMiB: Int
        var expectedExitCode: Int
    }

    static let samples: [Sample] = [
        Sample(
            name: "hello",
            command: ["echo", "hello from a loopback instance"],
            vcpus: 1,
            ramMiB: 128,
            expectedExitCode: 0
        ),
        Sample(name: "uname", command: ["uname", "-sm"], vcpus: 1, ramMiB: 128, expectedExitCode: 0),
        Sample(
            name: "count",
            command: ["sh", "-c", "for i in 1 2 3; do echo step $i; sleep 1; done"],
            vcpus: 1,
            ramMiB: 256,
            expectedExitCode: 0
        ),
        Sample(
            name: "sort",
            command: ["sh", "-c", "seq 1 200000 | sort -rn | head -1"],
            vcpus: 2,
            ramMiB: 512,
            expectedExitCode: 0
        ),
        Sample(
            name: "checksum",
            command: ["sh", "-c", "head -c 20000000 /dev/zero | md5sum"],
            vcpus: 2,
            ramMiB: 512,
            expectedExitCode: 0
        ),
        Sample(
            name: "big",
            command: ["sh", "-c", "echo running with $(nproc) visible CPUs"],
            vcpus: 4,
            ramMiB: 1024,
            expectedExitCode: 0
        ),
        Sample(
            name: "fails",
            command: ["sh", "-c", "echo this one fails on purpose >&2; exit 3"],
            vcpus: 1,
            ramMiB: 128,
            expectedExitCode: 3
        ),
    ]

    func run() async throws {
        try Self.ensureRunnerBuilt()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("dispatch-cloud-demo-\(UUID().uuidString.prefix(8))").path
        let port = try FreePort.pick()
        let rootToken = "demo-root-" + UUID().uuidString
        let submitterToken = "demo-submitter-" + UUID().uuidString
        let yaml = Self.configuration(directory: directory, port: port, rootToken: rootToken, submitter: submitterToken)
        let config: ClusterConfig
        do {
            config = try ClusterConfig.load(yaml: yaml, sourceName: "demo").config
        } catch {
            printToStandardError("error: the demo configuration is invalid: \(error.message)")
            throw ExitCode(1)
        }
        let logger = LogSetup.bootstrap(level: self.verbose ? .info : .warning)
        let dispatcher: Dispatcher
        do {
            dispatcher = try Dispatcher(config: config, drivers: .builtIn, logger: logger)
        } catch {
            printToStandardError("error: \(error.message)")
            throw ExitCode(1)
        }
        say("DispatchCloud demo — standalone stack on this machine")
        say("  data directory  \(directory)\(self.keep ? "" : " (removed at the end)")")
        say("  container API   http://127.0.0.1:\(port)  (embedded, SQLite)")
        say("  cloud           loopback driver: up to 4 instances, SSH servers on 127.0.0.1")
        if Dispatcher.bwrapLocations.contains(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            say("  sandbox         bubblewrap: each container as nobody, in its own mount view, no network")
        } else {
            say(
                "  warning: bubblewrap (bwrap) is not installed: containers run unsandboxed, as this user "
                    + "(install the bubblewrap package to sandbox them)"
            )
        }
        say("  instance types  small (1 VCPU, 1 GiB), medium (2 VCPUs, 2 GiB), large (4 VCPUs, 4 GiB)")
        defer { if !self.keep { try? FileManager.default.removeItem(atPath: directory) } }

        let service = Task { try await dispatcher.run(signals: false) }
        let outcome: Bool
        do {
            outcome = try await self.runBatch(dispatcher, port: port, submitterToken: submitterToken)
        } catch {
            await dispatcher.shutdown()
            _ = await service.result
            printToStandardError("error: \(error)")
            throw ExitCode(1)
        }
        await dispatcher.shutdown()
        _ = await service.result
        if !outcome { throw ExitCode(1) }
    }

    /// Makes sure `dispatch-runner` sits next to this executable, as the loopback instances deploy it from there.
    ///
    /// `swift run dispatch-cloud demo` builds only `dispatch-cloud`; when running from a SwiftPM build directory
    /// without the runner, build it there with the same configuration (once).
    static func ensureRunnerBuilt() throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let directory = executable.deletingLastPathComponent()
        let runner = directory.appendingPathComponent("dispatch-runner").path
        if FileManager.default.isExecutableFile(atPath: runner) { return }
        let configuration = directory.lastPathComponent
        var root = directory
        while root.path != "/"
            && !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path)
        {
            root.deleteLastPathComponent()
        }
        guard ["debug", "release"].contains(configuration), root.path != "/" else {
            printToStandardError(
                "error: \(runner) is missing: install dispatch-runner next to dispatch-cloud "
                    + "(swift build --product dispatch-runner)"
            )
            throw ExitCode(1)
        }
        say("Building dispatch-runner (\(configuration)), which the loopback instances run — first time only…")
        let arguments = [
            "swift", "build", "-c", configuration, "--product", "dispatch-runner", "--package-path", root.path,
        ]
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, "swift", nil, nil, argv, environ)
        var status: Int32 = 0
        if spawned == 0 {
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        guard spawned == 0, status == 0, FileManager.default.isExecutableFile(atPath: runner) else {
            printToStandardError("error: building dispatch-runner failed; run: swift build --product dispatch-runner")
            throw ExitCode(1)
        }
    }

    /// Submits the batch, follows it to the end, prints the results; true when every container ended as
    /// expected.
    private func runBatch(_ dispatcher: Dispatcher, port: Int, submitterToken: String) async throws -> Bool {
        let client = ArvadosClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, token: submitterToken)
        _ = try await FreePort.waitForAPI(client, timeout: .seconds(30))
        let started = ContinuousClock.now
        var submitted: [(sample: Sample, uuid: ContainerUUID)] = []
        for copy in 0..<self.copies {
            for (index, sample) in Self.samples.enumerated() {
                let container = try await client.createContainer([
                    "command": .array(sample.command.map(JSONValue.string)),
                    "container_image": .string("loopback"),
                    "output_path": .string("/tmp"),
                    "cwd": .string("/tmp"),
                    "priority": .int(Int64(1000 - copy * 10 - index)),
                    "runtime_constraints": .object([
                        "vcpus": .int(Int64(sample.vcpus)),
                        "ram": .int(Int64(sample.ramMiB) << 20),
                    ]),
                ])
                submitted.append((sample, container.uuid))
            }
        }
        say("\nSubmitted \(submitted.count) containers:")
        for (sample, uuid) in submitted {
            say(
                "  \(uuid)  \(sample.name.padding(toLength: 9, withPad: " ", startingAt: 0)) \(sample.vcpus) VCPU, \(sample.ramMiB) MiB: \(sample.command.joined(separator: " "))"
            )
        }
        say("")

        // Which instance ran each container, noted on every change of the pool (a container that runs for a
        // few milliseconds would slip between the progress samples): the containers running on each worker,
        // and the one it started last.
        let placed = Mutex<[ContainerUUID: (instance: String, type: String)]>([:])
        let pool = dispatcher.pool
        let changes = await pool.subscribe()
        let watcher = Task {
            for await _ in changes {
                for view in await pool.instances() {
                    let place = (view.instance?.rawValue ?? "?", view.instanceType.name.rawValue)
                    placed.withLock { placements in
                        for uuid in view.runningContainerUUIDs { placements[uuid] = place }
                        if let last = view.lastContainerUUID, placements[last] == nil { placements[last] = place }
                    }
                }
            }
        }
        defer { watcher.cancel() }
        var lastLine = ""
        var finished: [ContainerUUID: Container] = [:]
        let deadline = ContinuousClock.now.advanced(by: .seconds(self.timeout))
        while finished.count < submitted.count {
            guard ContinuousClock.now < deadline else {
                say("✘ gave up after \(self.timeout) s with \(submitted.count - finished.count) containers unfinished")
                return false
            }
            let instances = await dispatcher.pool.instances()
            var states: [ContainerState: Int] = [:]
            for (_, uuid) in submitted {
                if let done = finished[uuid] {
                    states[done.state, default: 0] += 1
                    continue
                }
                let container = try await client.container(uuid)
                states[container.state, default: 0] += 1
                if container.state.isFinal { finished[uuid] = container }
            }
            let line = Self.progressLine(states: states, instances: instances)
            if line != lastLine {
                say(String(format: "%6.1fs  ", (ContinuousClock.now - started).inSeconds) + line)
                lastLine = line
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let elapsed = (ContinuousClock.now - started).inSeconds
        let placements = placed.withLock { $0 }

        say("\nResults:")
        var allAsExpected = true
        var rows: [[String]] = []
        for (sample, uuid) in submitted {
            let container = finished[uuid]!
            let exit = container.exitCode.map(String.init) ?? "-"
            let expected = container.state == .complete && container.exitCode == sample.expectedExitCode
            if !expected { allAsExpected = false }
            let output = try await Self.firstOutputLine(client, uuid)
            let placed = placements[uuid]
            rows.append([
                expected ? "✔" : "✘", uuid.rawValue, sample.name, container.state.rawValue, exit,
                placed?.type ?? "-", placed?.instance ?? "-", output,
            ])
        }
        say(Table.render(header: ["", "CONTAINER", "NAME", "STATE", "EXIT", "TYPE", "INSTANCE", "OUTPUT"], rows: rows))
        let used = Set(placements.values.map(\.instance)).count
        say(
            "\n\(submitted.count) containers in \(String(format: "%.1f", elapsed)) s on \(used) loopback instance(s); "
                + (allAsExpected
                    ? "every container ended as expected (the failing one with exit code 3)."
                    : "some containers did NOT end as expected.")
        )
        return allAsExpected
    }

    static func progressLine(states: [ContainerState: Int], instances: [InstanceView]) -> String {
        let order: [ContainerState] = [.queued, .locked, .running, .complete, .cancelled]
        let containers = order.compactMap { state in states[state].map { "\($0) \(state.rawValue.lowercased())" } }
        var byState: [String: Int] = [:]
        for view in instances { byState[view.workerState.rawValue, default: 0] += 1 }
        let workers = byState.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
        return "containers: " + containers.joined(separator: ", ") + "   instances: "
            + (workers.isEmpty ? "none" : workers.joined(separator: ", "))
    }

    static func firstOutputLine(_ client: ArvadosClient, _ uuid: ContainerUUID) async throws -> String {
        let page = try await client.logs(
            filters: [
                ArvadosFilter("object_uuid", "=", .string(uuid.rawValue)),
                ArvadosFilter("event_type", "in", .array([.string("stdout"), .string("stderr")])),
            ],
            limit: 20
        )
        let text = page.items.compactMap(\.text).joined()
        let line = text.split(separator: "\n").first.map(String.init) ?? ""
        return line.count > 48 ? String(line.prefix(47)) + "…" : line
    }

    /// The demo's cluster: standalone, loopback, quick timeouts, tokens made up for this run; bwrap where
    /// installed, else unsandboxed with a warning, so the demo runs on any machine.
    static func configuration(directory: String, port: Int, rootToken: String, submitter: String) -> String {
        var cluster = StandaloneConfiguration(
            dataDirectory: directory,
            apiPort: port,
            rootToken: rootToken,
            submitterToken: submitter
        )
        cluster.clusterID = "demo1"
        cluster.driverParameters = "{MaxInstances: 4}"
        cluster.imageID = "loopback"
        cluster.syncInterval = "5s"
        cluster.timeoutIdle = "10s"
        cluster.staleLockTimeout = nil
        cluster.processSandboxMode = "auto"
        return cluster.yaml
    }
}

/// Free ports on 127.0.0.1, and waiting for the API to answer.
enum FreePort {
    /// A port the kernel reports free on 127.0.0.1 right now.
    static func pick() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw runtimeFailure("cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw runtimeFailure("cannot bind a socket on 127.0.0.1 to find a free port") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Waits until the API answers the token check.
    static func waitForAPI(_ client: ArvadosClient, timeout: Duration) async throws -> ArvadosAuthorization {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            do {
                return try await client.currentAuthorization()
            } catch {
                if ContinuousClock.now >= deadline { throw error }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }
}
