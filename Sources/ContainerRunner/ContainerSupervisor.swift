public import ArvadosAPI
import Dispatch
public import DispatchModel
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs one container to its end on this node: the detached runner's whole job.
///
/// It fetches the container with the token it was given, starts its process (engine `process`, or `docker` /
/// `podman`), moves the container to Running, streams stdout and stderr to the API's `logs`, enforces
/// `scheduling_parameters.max_run_time`, forwards SIGTERM to the container, and finalizes it: Complete with
/// the exit code, or Cancelled (with `runtime_status.error` when something went wrong).
public final class ContainerSupervisor: Sendable {
    /// Why the container stopped early.
    enum StopReason: Equatable, Sendable {
        case killed
        case maxRunTime(seconds: Int)
        /// The API refused the move to Running: the container is no longer this runner's to run or finalize.
        case notLocked(String)
    }

    private let uuid: ContainerUUID
    private let client: ArvadosClient
    private let engine: String
    private let workRoot: String
    private let readyDescriptor: Int32?
    private let given: Container?
    private let sandbox: SandboxSettings
    private let costing: Costing
    private let spotCheck: SpotInterruptionWatcher?
    private let state = Mutex<(pgid: pid_t?, stop: StopReason?)>((nil, nil))
    /// The container's memory cgroup, when the sandbox made one.
    private let cgroup = Mutex<MemoryCgroup?>(nil)
    /// The container's own directory, when this supervisor made one: removed with all its contents once the
    /// container is finalized (as `crunch-run` removes its temporary directories), so that finished containers
    /// do not fill the instance's disk.
    private let workDirectory = Mutex<String?>(nil)
    /// What ``startEarly()`` started (or why it could not), for ``run()`` to carry on from.
    private let early = Mutex<Result<Started, RunnerError>?>(nil)
    /// A started container process: its PID, its output, and a note on its sandbox.
    private typealias Started = (pid: pid_t, output: AsyncStream<(String, [UInt8])>, note: String?)
    /// How long the container gets between SIGTERM and SIGKILL.
    static let stopGracePeriod: Duration = .seconds(10)
    /// How long ``startEarly()`` waits for bwrap to build the sandbox before it goes on regardless.
    static let sandboxSetupTimeout: Duration = .seconds(5)

    /// - Parameters:
    ///   - readyDescriptor: a pipe to the `--detach` parent: `ok` once the process runs, or `error: …`.
    ///   - workRoot: where per-container working directories are made when `cwd` does not exist here.
    ///   - container: the record the dispatcher sent with the configuration; used instead of fetching it when
    ///     it is this container's and Locked.
    ///   - sandbox: how the `process` engine isolates the container.
    public init(
        uuid: ContainerUUID,
        client: ArvadosClient,
        engine: String,
        workRoot: String,
        readyDescriptor: Int32?,
        container: Container? = nil,
        sandbox: SandboxSettings = SandboxSettings(),
        costing: Costing = Costing(),
        spotCheck: SpotInterruptionWatcher? = nil
    ) {
        self.uuid = uuid
        self.client = client
        self.engine = engine
        self.workRoot = workRoot
        self.readyDescriptor = readyDescriptor
        self.given = container
        self.sandbox = sandbox
        self.costing = costing
        self.spotCheck = spotCheck
    }

    /// How the container's `cost` is kept (as `crunch-run`'s): from the instance type's price or the price
    /// history `--list --stdin-prices` keeps in ``pricesFile``, updated every ``updateInterval`` and at the end.
    public struct Costing: Sendable {
        /// The `InstanceType` the dispatcher sent (JSON): its `Price` is the hourly price. Decoded once the
        /// container's process runs, off the start's critical path.
        public var instanceType: String?
        /// The price history file, re-read at each update; `nil`: none.
        public var pricesFile: String?
        /// How often the cost is written while the container runs.
        public var updateInterval: Duration
        /// The wall clock.
        public var now: @Sendable () -> Timestamp

        public init(
            instanceType: String? = nil,
            pricesFile: String? = nil,
            updateInterval: Duration = .seconds(60),
            now: @escaping @Sendable () -> Timestamp = { Timestamp.now() }
        ) {
            self.instanceType = instanceType
            self.pricesFile = pricesFile
            self.updateInterval = updateInterval
            self.now = now
        }
    }

    /// Starts the container's process at once, on the calling thread, when the dispatcher gave its Locked record,
    /// and returns once bwrap has built its sandbox (``SandboxReadiness``): the supervisor's entry point calls it
    /// before the concurrency runtime starts, so that neither the runtime's threads nor the `ok` to `--detach` and
    /// the move to Running (and the dispatcher's work they set off) compete for the CPU with the sandbox's setup,
    /// which is on the container's critical path (about 1 ms of every start on 2 cores). ``run()`` then carries on
    /// from the started process, or reports why it could not start. Termination signals are ignored from here on
    /// until ``run()`` forwards them to the container: a `--kill` that comes before is sent again by the dispatcher.
    public func startEarly() {
        guard let given, given.uuid == self.uuid, given.state == .locked else { return }
        for number in [SIGTERM, SIGINT] { signal(number, SIG_IGN) }
        let result: Result<Started, RunnerError>
        do {
            let (pid, output, note, readiness) = try self.start(given)
            // Nothing else of this runner's runs before the sandbox is built (see SandboxReadiness); past the
            // timeout, the supervisor goes on as if it were.
            _ = readiness?.wait(timeout: Self.sandboxSetupTimeout)
            result = .success((pid, output, note))
        } catch {
            result = .failure(error)
        }
        self.early.withLock { $0 = result }
    }

    /// Runs the container and returns the runner's exit status (0 once the container is finalized).
    public func run() async -> Int32 {
        let container: Container
        if let given, given.uuid == self.uuid, given.state == .locked {
            // The process starts before any API request; the move to Running below confirms the lock.
            container = given
        } else {
            do {
                container = try await self.client.container(self.uuid)
            } catch {
                self.reportReady("error: cannot fetch \(self.uuid): \(Self.explain(error))")
                if error.code == .decoding {
                    // A record this runner cannot read is one it cannot run: say so on the container.
                    let message = "dispatch-runner cannot read the container record: \(error.message)"
                    await self.finalize([
                        "state": .string("Cancelled"), "runtime_status": .object(["error": .string(message)]),
                    ])
                }
                return 1
            }
        }
        guard container.state == .locked || container.state == .running else {
            self.reportReady("error: \(self.uuid) is \(container.state.rawValue), not Locked")
            return 1
        }
        let logs = LogStreamer(client: self.client, uuid: self.uuid)
        let pid: pid_t
        let output: AsyncStream<(String, [UInt8])>
        let sandboxNote: String?
        do {
            if let started = self.early.withLock({ $0.take() }) {
                (pid, output, sandboxNote) = try started.get()
            } else {
                // Started on the concurrency runtime: no waiting for the sandbox here.
                (pid, output, sandboxNote, _) = try self.start(container)
            }
        } catch {
            self.reportReady("error: \(error.message)")
            await logs.note("dispatch-runner: cannot start the container: \(error.message)")
            await self.finalize(["state": .string("Cancelled"), "runtime_status": Self.error(error.message, container)])
            self.removeWorkDirectory()
            return 1
        }
        self.state.withLock { $0.pgid = pid }
        let startedAt = self.costing.now()
        self.reportReady("ok")
        let meter = Mutex(
            CostMeter(
                start: startedAt,
                instancePrice: CostMeter.instancePrice(instanceTypeJSON: self.costing.instanceType)
            )
        )
        let signals = self.forwardTermination()
        defer { for source in signals { source.cancel() } }

        // Written with the container's first output, by the periodic flush, or at the end.
        await logs.noteLater("dispatch-runner: started \(container.command.joined(separator: " ")) (pid \(pid))")
        if let sandboxNote { await logs.noteLater("dispatch-runner: \(sandboxNote)") }
        if container.state == .locked {
            // Retried while the API is unreachable (a dispatcher serving it restarting, say): a container left
            // Locked could never be finalized, and would be unlocked and started a second time.
            var delay = Duration.milliseconds(250)
            for attempt in 1...Self.transientAttempts {
                do {
                    try await self.client.setContainerAttributes(self.uuid, ["state": .string("Running")])
                    break
                } catch  where [.conflict, .unprocessable, .notFound, .forbidden].contains(error.code) {
                    // Cancelled, or unlocked (and perhaps requeued) since the dispatcher locked it: stop, and
                    // leave its state to whoever holds it now.
                    self.stop(.notLocked(error.message))
                    break
                } catch  where attempt < Self.transientAttempts && Self.isTransient(error) {
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(30))
                } catch {
                    await logs.note("dispatch-runner: cannot set state Running: \(error.message)")
                    break
                }
            }
        }
        let limit = container.schedulingParameters.maxRunTime
        let watchdog = Task {
            guard let delay = Self.watchdogDelay(maxRunTime: limit) else { return }
            try await Task.sleep(for: delay)
            self.stop(.maxRunTime(seconds: limit))
        }
        let flusher = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                await logs.flushAll(final: false)
            }
        }
        // EC2SpotCheck: a notice becomes crunch-run's runtime_status warning and a log line.
        let spotWatcher = self.spotCheck.map { watcher in
            Task {
                await watcher.run(
                    notice: { notice in
                        await logs.note(notice.text)
                        var status = container.runtimeStatus
                        status["warning"] = .string("preemption notice")
                        status["warningDetail"] = .string(notice.text)
                        status["preemptionNotice"] = .string(notice.text)
                        try? await self.client.setContainerAttributes(self.uuid, ["runtime_status": .object(status)])
                    },
                    log: { line in await logs.noteLater(line) }
                )
            }
        }
        let costUpdater = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: self.costing.updateInterval)
                let cost = await self.currentCost(meter, logs: logs)
                try? await self.client.setContainerAttributes(self.uuid, ["cost": .double(cost)])
            }
        }
        for await (event, bytes) in output {
            await logs.append(event, bytes)
        }
        let status = await ProcessSpawner.waitForExit(pid)
        let cgroup = self.cgroup.withLock { $0 }
        // Any process left in the cgroup (a daemon the container started) goes with it; the cgroup itself is
        // removed once the container is finalized, off the container's critical path.
        cgroup?.signalMembers(SIGKILL, except: 0)
        watchdog.cancel()
        spotWatcher?.cancel()
        costUpdater.cancel()
        _ = await costUpdater.result
        let finalCost = await self.currentCost(meter, logs: logs)
        // Stop the periodic flush and let one in progress finish, so the last flush comes after it.
        flusher.cancel()
        _ = await flusher.result

        // The last notes go with the last output: every log record is written before the final state.
        let final: [String: JSONValue]
        switch self.state.withLock({ $0.stop }) {
        case .killed:
            await logs.noteLater("dispatch-runner: container stopped on request")
            final = ["state": .string("Cancelled")]
        case .maxRunTime(let seconds):
            let message = "maximum run time exceeded"
            await logs.noteLater("dispatch-runner: \(message) (\(seconds) s)")
            final = [
                "state": .string("Cancelled"),
                "runtime_status": Self.error(message, container, detail: "max_run_time is \(seconds) s"),
            ]
        case .notLocked(let message):
            // Not this runner's to finalize (nor, perhaps, to log for): say why on its own stderr and go.
            POSIX.writeError("dispatch-runner: the API refused the move to Running (\(message)): container stopped\n")
            await cgroup?.remove()
            self.removeWorkDirectory()
            return 1
        case nil:
            await logs.noteLater("dispatch-runner: container exited with code \(status.exitCode)")
            final = ["state": .string("Complete"), "exit_code": .int(Int64(status.exitCode))]
        }
        await logs.flushAll(final: true)
        await self.finalize(final.merging(["cost": .double(finalCost)]) { own, _ in own })
        await cgroup?.remove()
        self.removeWorkDirectory()
        return 0
    }

    /// Removes the container's directory with everything in it (never following a symlink the container made).
    private func removeWorkDirectory() {
        guard let directory = self.workDirectory.withLock({ $0 }) else { return }
        if !POSIX.removeTree(directory) {
            POSIX.writeError("dispatch-runner: cannot remove \(directory): \(String(cString: strerror(errno)))\n")
        }
    }

    /// The cost so far, after reading the price history again (a new price is noted in the container's log).
    private func currentCost(_ meter: borrowing Mutex<CostMeter>, logs: LogStreamer) async -> Double {
        let history = self.costing.pricesFile.flatMap { CostMeter.readPrices(atPath: $0) } ?? []
        let now = self.costing.now()
        let (cost, changes) = meter.withLock { meter in
            let changes = meter.merge(history)
            return (meter.cost(at: now), changes)
        }
        for change in changes {
            await logs.noteLater("dispatch-runner: instance price changed to \(change.price) at \(change.startTime)")
        }
        return cost
    }

    /// Stops the container: SIGTERM to its process group now, SIGKILL after the grace period.
    func stop(_ reason: StopReason) {
        let pgid: pid_t? = self.state.withLock { state in
            if state.stop == nil { state.stop = reason }
            return state.pgid
        }
        guard let pgid else { return }
        if let cgroup = self.cgroup.withLock({ $0 }) {
            // Sandboxed: the container's own processes get SIGTERM; bwrap, which would take them down with
            // SIGKILL if it died, does not.
            cgroup.signalMembers(SIGTERM, except: pgid)
        } else {
            _ = sendSignal(-pgid, SIGTERM)
        }
        let cgroup = self.cgroup.withLock { $0 }
        Task {
            try await Task.sleep(for: Self.stopGracePeriod)
            _ = sendSignal(-pgid, SIGKILL)
            cgroup?.signalMembers(SIGKILL, except: 0)
        }
    }

    /// Starts the container's process with its output on two pipes; also returns a note on its sandbox and, when
    /// bwrap reports it, the sandbox's readiness.
    private func start(
        _ container: Container
    ) throws(RunnerError) -> (pid_t, AsyncStream<(String, [UInt8])>, String?, SandboxReadiness?) {
        guard !container.command.isEmpty else { throw RunnerError(.spawn, "the container has no command") }
        var note: String?
        var plan: SandboxedStart.Plan?
        switch try self.sandboxedStart(for: container) {
        case .confined(let confined): plan = confined
        case .unsandboxed(let warning): note = warning
        case nil: break
        }
        // Unsandboxed: the engine's command line, worked out before anything needs closing.
        let commandLine = plan == nil ? try self.commandLine(for: container) : ([], [:], "")
        let stdout = try Self.pipe()
        let stderr = try Self.pipe()
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(stdout.write)
            close(stderr.write)
            if null >= 0 { close(null) }
        }
        if let plan {
            let pid: pid_t
            var confinement = plan.confinement
            // The child joins the memory cgroup before its exec: bwrap and the whole sandbox start inside the limit.
            confinement.cgroupTasks = plan.cgroup?.tasks
            do {
                pid = try ProcessSpawner.spawnConfined(
                    plan.arguments,
                    environment: plan.environment,
                    descriptors: [null, stdout.write, stderr.write] + (plan.readiness.map { [$0.readEnd] } ?? []),
                    workingDirectory: "/",
                    confinement: confinement
                )
                plan.readiness?.closeReadEnd()
            } catch {
                close(stdout.read)
                close(stderr.read)
                if let cgroup = plan.cgroup {
                    close(cgroup.tasks)
                    rmdir(cgroup.path)
                }
                throw error
            }
            if let cgroup = plan.cgroup { self.cgroup.withLock { $0 = cgroup } }
            return (pid, Self.merge([("stdout", stdout.read), ("stderr", stderr.read)]), plan.note, plan.readiness)
        }
        let (arguments, environment, directory) = commandLine
        var options = ProcessSpawner.Options()
        options.descriptors = [(0, null), (1, stdout.write), (2, stderr.write)]
        options.newProcessGroup = true
        options.searchPath = true
        options.workingDirectory = directory
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(arguments, environment: environment, options: options)
        } catch {
            close(stdout.read)
            close(stderr.read)
            throw error
        }
        return (pid, Self.merge([("stdout", stdout.read), ("stderr", stderr.read)]), note, nil)
    }

    /// How a `process` container starts under the sandbox settings.
    enum SandboxedStart {
        /// Under bwrap, as the plan says.
        case confined(Plan)
        /// Unsandboxed (`auto` without bwrap), with this warning for the container's log.
        case unsandboxed(String)

        struct Plan {
            var arguments: [String]
            var environment: [String: String]
            var confinement: ProcessSpawner.Confinement
            var cgroup: MemoryCgroup?
            var note: String
            /// Set when bwrap tells the supervisor (through `--block-fd`) that the sandbox is built.
            var readiness: SandboxReadiness?
        }
    }

    /// The sandbox plan for `container`, or nil when it runs unsandboxed by configuration (or another engine).
    private func sandboxedStart(for container: Container) throws(RunnerError) -> SandboxedStart? {
        guard self.sandbox.confines(engine: self.engine) else { return nil }
        guard let bwrap = Sandbox.findBwrap(locations: self.sandbox.bwrapLocations) else {
            if self.sandbox.mode == .auto {
                return .unsandboxed(
                    "warning: bubblewrap (bwrap) is not installed: the container runs unsandboxed, as this runner's "
                        + "user (DispatchCloud.ProcessSandbox.Mode is auto)"
                )
            }
            throw RunnerError(.spawn, Sandbox.missingBwrap)
        }
        var credentials: (uid: UInt32, gid: UInt32)?
        var who: String
        if getuid() == 0 {
            guard let resolved = Sandbox.resolveUser(self.sandbox.user, passwd: Sandbox.readPasswd()) else {
                throw RunnerError(
                    .spawn,
                    "the sandbox user \"\(self.sandbox.user)\" does not exist on this instance "
                        + "(DispatchCloud.ProcessSandbox.User)"
                )
            }
            guard resolved.uid != 0 else {
                throw RunnerError(.spawn, "the sandbox user must not be root (DispatchCloud.ProcessSandbox.User)")
            }
            credentials = resolved
            who = "uid \(resolved.uid) gid \(resolved.gid)"
        } else {
            who = "uid \(getuid()) (the runner's own: only root can switch users)"
        }
        var environment = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/tmp",
        ]
        environment.merge(container.environment) { $1 }
        let command = container.command
        if !command[0].contains("/"),
            ProcessSpawner.resolve(command[0], path: environment["PATH"] ?? "") == nil
        {
            throw RunnerError(.spawn, "\(command[0]): command not found")
        }
        var directory = "\(self.workRoot)/\(self.uuid.rawValue)"
        var sandboxRoot = self.workRoot
        if let problem = POSIX.makeDirectories(self.workRoot) {
            throw RunnerError(.spawn, "cannot create working directory \(self.workRoot): \(problem)")
        }
        if let credentials, !Sandbox.reachable(self.workRoot, uid: credentials.uid, gid: credentials.gid) {
            // bwrap, as the sandbox user, must reach what it mounts: a root of this runner's own instead.
            if let problem = Sandbox.ownedDirectory(Sandbox.fallbackRoot, mode: 0o711) {
                throw RunnerError(.spawn, "cannot use working directory \(Sandbox.fallbackRoot): \(problem)")
            }
            sandboxRoot = Sandbox.fallbackRoot
            directory = "\(Sandbox.fallbackRoot)/\(self.uuid.rawValue)-\(getpid())"
        }
        if let problem = POSIX.makeDirectories(directory) {
            throw RunnerError(.spawn, "cannot create working directory \(directory): \(problem)")
        }
        self.workDirectory.withLock { $0 = directory }
        // The container's alone: its user owns it, nobody else may enter.
        if let credentials, lchown(directory, credentials.uid, credentials.gid) != 0 {
            let reason = String(cString: strerror(errno))
            throw RunnerError(.spawn, "cannot give \(directory) to the sandbox user: \(reason)")
        }
        _ = chmod(directory, 0o700)
        let readiness = SandboxReadiness.make()
        let layout = Sandbox.Layout(
            workDirectory: directory,
            cwd: container.cwd,
            outputPath: container.outputPath,
            network: container.runtimeConstraints.api,
            readOnlyPaths: self.sandbox.readOnlyPaths,
            etcCopy: try? EtcCopy.prepare(under: sandboxRoot).get(),
            readinessDescriptor: readiness == nil ? nil : SandboxReadiness.descriptorInSandbox
        )
        var confinement = ProcessSpawner.Confinement(credentials: credentials)
        var cgroup: MemoryCgroup?
        var memory = "no memory limit"
        let ram = container.runtimeConstraints.ram
        if ram > 0 {
            switch MemoryCgroup.create(name: MemoryCgroup.name(uuid: self.uuid, supervisor: getpid()), limit: ram) {
            case .success(let created):
                // Joined by the spawned child before it executes bwrap (see MemoryCgroup.tasks).
                cgroup = created
                memory = "memory limit \(ram) bytes (memory cgroup)"
            case .failure(let error):
                confinement.addressSpaceLimit = UInt64(ram)
                memory = "address space limit \(ram) bytes (RLIMIT_AS: \(error.message))"
            }
        }
        let network = layout.network ? "network shared (runtime_constraints.API)" : "no network"
        return .confined(
            .init(
                arguments: [bwrap] + Sandbox.arguments(layout, command: command),
                environment: environment,
                confinement: confinement,
                cgroup: cgroup,
                note: "sandboxed by bwrap as \(who), \(network), \(memory)",
                readiness: readiness
            )
        )
    }

    /// The argv, environment and working directory for the chosen engine.
    private func commandLine(
        for container: Container
    ) throws(RunnerError) -> ([String], [String: String], String) {
        var environment = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": getenv("HOME").map { String(cString: $0) } ?? "/",
        ]
        switch self.engine {
        case "", "process":
            environment.merge(container.environment) { $1 }
            return (container.command, environment, try self.workingDirectory(for: container))
        case "docker", "podman":
            var arguments = [self.engine, "run", "--rm", "--init", "--name", "crunch-\(self.uuid.rawValue)"]
            if !container.cwd.isEmpty { arguments += ["--workdir", container.cwd] }
            for (key, value) in container.environment.sorted(by: { $0.key < $1.key }) {
                arguments += ["--env", "\(key)=\(value)"]
            }
            let constraints = container.runtimeConstraints
            if constraints.vcpus > 0 { arguments += ["--cpus", String(constraints.vcpus)] }
            if constraints.ram > 0 { arguments += ["--memory", String(constraints.ram)] }
            arguments.append(container.containerImage)
            arguments += container.command
            return (arguments, environment, try self.workingDirectory(for: Container(uuid: self.uuid)))
        default:
            throw RunnerError(.spawn, "unknown runtime engine \"\(self.engine)\" (use process, docker or podman)")
        }
    }

    /// `cwd` when it exists on this node, else a fresh directory for the container under the work root.
    private func workingDirectory(for container: Container) throws(RunnerError) -> String {
        if container.cwd.hasPrefix("/"), POSIX.isDirectory(container.cwd) {
            return container.cwd
        }
        let directory = "\(self.workRoot)/\(self.uuid.rawValue)"
        if let problem = POSIX.makeDirectories(directory) {
            throw RunnerError(.spawn, "cannot create working directory \(directory): \(problem)")
        }
        self.workDirectory.withLock { $0 = directory }
        return directory
    }

    /// How many times an update is tried while the API is unreachable or overloaded (about two minutes).
    static let transientAttempts = 12

    /// Whether an API error may go away by itself: no answer, or a 503 or 5xx.
    static func isTransient(_ error: ArvadosAPIError) -> Bool {
        [.transport, .serviceUnavailable, .server].contains(error.code)
    }

    /// Finalizes the container, retrying while the API is unreachable or overloaded (up to about two minutes).
    private func finalize(_ attributes: [String: JSONValue]) async {
        var delay = Duration.milliseconds(250)
        for _ in 0..<Self.transientAttempts {
            do {
                try await self.client.setContainerAttributes(self.uuid, attributes)
                return
            } catch  where Self.isTransient(error) {
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            } catch {
                // Refused for good (for example already Cancelled): nothing more to do.
                return
            }
        }
    }

    /// Turns SIGTERM and SIGINT to this runner into a stop of the container.
    private func forwardTermination() -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in self.stop(.killed) }
            source.resume()
            return source
        }
    }

    private func reportReady(_ message: String) {
        guard let fd = self.readyDescriptor else { return }
        _ = (message + "\n").withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    static func error(_ message: String, _ container: Container, detail: String? = nil) -> JSONValue {
        var status = container.runtimeStatus
        status["error"] = .string(message)
        if let detail { status["errorDetail"] = .string(detail) }
        return .object(status)
    }

    static func pipe() throws(RunnerError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard Glibc.pipe(&fds) == 0 else {
            throw RunnerError(.spawn, "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        // Close-on-exec, so only the descriptors the spawner maps reach a child.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// Reads each descriptor on its own thread (blocking reads stay off the cooperative pool) into one stream.
    static func merge(_ sources: [(String, Int32)]) -> AsyncStream<(String, [UInt8])> {
        let (stream, continuation) = AsyncStream<(String, [UInt8])>.makeStream()
        let open = Mutex(sources.count)
        for (event, fd) in sources {
            POSIX.startThread {
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let count = read(fd, &buffer, buffer.count)
                    if count > 0 {
                        continuation.yield((event, Array(buffer[0..<count])))
                    } else if count < 0 && errno == EINTR {
                        continue
                    } else {
                        break
                    }
                }
                close(fd)
                if open.withLock({ remaining in
                    remaining -= 1
                    return remaining == 0
                }) {
                    continuation.finish()
                }
            }
        }
        return stream
    }
}
