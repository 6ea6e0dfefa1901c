import ArvadosAPI
import ContainerRunner
import Dispatch
import DispatchModel

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

/// The program the dispatcher runs on each worker VM; command-line compatible with Arvados's `crunch-run`.
@main
enum DispatchRunner {
    static let version = "0.1.0-dev"

    // Synchronous on purpose: `--detach` forks the supervisor, which is only safe while this process has a
    // single thread, so nothing here may start the concurrency runtime before that.
    static func main() {
        let arguments: RunnerArguments
        do {
            arguments = try RunnerArguments(parsing: Array(CommandLine.arguments.dropFirst()))
        } catch {
            POSIX.writeError("dispatch-runner: \(error.message)\n\n\(RunnerArguments.usage)\n")
            exit(2)
        }
        for flag in arguments.ignored {
            POSIX.writeError("dispatch-runner: ignoring unknown flag \(flag)\n")
        }
        let environment = POSIX.environment()
        let lockDirectory = self.lockDirectory(arguments, environment)
        do {
            exit(try self.run(arguments, lockDirectory: lockDirectory, environment: environment))
        } catch {
            POSIX.writeError("dispatch-runner: \(error.message)\n")
            // Input the runner refuses (a UUID, the configuration on stdin) exits 2, as usage errors do.
            exit([.usage, .configuration].contains(error.code) ? 2 : 1)
        }
    }

    static func run(
        _ arguments: RunnerArguments,
        lockDirectory: LockDirectory,
        environment: [String: String]
    ) throws(RunnerError) -> Int32 {
        switch arguments.mode {
        case .help:
            print(RunnerArguments.usage)
            return 0
        case .version:
            print(self.version)
            return 0
        case .list:
            if arguments.stdinPrices {
                // Kept for the supervisors, which re-read it at each cost update (crunch-run's prices file).
                _ = CostMeter.storePrices(POSIX.readStandardInput(), inDirectory: lockDirectory.path)
            }
            let list = try lockDirectory.list { problem in POSIX.writeError("dispatch-runner: \(problem)\n") }
            print(list.rendered, terminator: "")
            return 0
        case .kill(let signal):
            let uuid = try self.containerUUID(arguments)
            guard try lockDirectory.kill(uuid, signal: signal) else {
                POSIX.writeError("dispatch-runner: \(uuid): sent signal \(signal) but its runner is still alive\n")
                return 1
            }
            return 0
        case .detach:
            let uuid = try self.containerUUID(arguments)
            let stdin =
                arguments.stdinConfig || arguments.stdinEnv
                ? POSIX.readStandardInput() : []
            // Checked before the lock is taken or a supervisor started: a bad document or API address fails here,
            // at once and with its reason, rather than in a supervisor the caller waits for.
            let configuration = try RunnerConfiguration.read(
                stdin: Data(stdin),
                arguments: arguments,
                processEnvironment: environment
            )
            _ = try configuration.apiAddress()
            let detacher = Detacher(lockDirectory: lockDirectory, executable: self.executablePath)
            var passThrough = arguments.passThrough
            if !passThrough.contains(where: { $0.hasPrefix("--lock-dir") }) {
                passThrough.append("--lock-dir=\(lockDirectory.path)")
            }
            let record = try detacher.detach(
                uuid,
                stdin: stdin,
                arguments: passThrough,
                environment: environment
            ) { stdin in
                // The forked copy has the configuration this process read: no second decoding.
                self.supervise(
                    arguments,
                    stdin: Data(stdin),
                    start: .forked,
                    lockDirectory: lockDirectory,
                    environment: environment,
                    configuration: configuration
                )
            }
            print(record, terminator: "")
            return 0
        case .supervise:
            let stdin = Data(POSIX.readStandardInput())
            self.supervise(
                arguments,
                stdin: stdin,
                start: .executed,
                lockDirectory: lockDirectory,
                environment: environment
            )
        }
    }

    /// The supervisor's whole life: runs the container on the concurrency runtime and exits with its status.
    /// `configuration`, when given, is what `stdin` decodes to.
    static func supervise(
        _ arguments: RunnerArguments,
        stdin: Data,
        start: Detacher.Start,
        lockDirectory: LockDirectory,
        environment: [String: String],
        configuration: RunnerConfiguration? = nil
    ) -> Never {
        let supervisor: ContainerSupervisor
        do {
            supervisor = try self.makeSupervisor(
                arguments,
                stdin: stdin,
                start: start,
                lockDirectory: lockDirectory,
                environment: environment,
                configuration: configuration
            )
        } catch {
            POSIX.writeError("dispatch-runner: \(error.message)\n")
            exit(1)
        }
        // The container's process first, then (once bwrap has built its sandbox) the concurrency runtime's threads.
        supervisor.startEarly()
        let log = lockDirectory.logFile(for: ContainerUUID(rawValue: arguments.uuid ?? ""))
        Task.detached {
            let status = await supervisor.run()
            // Finalized: the supervisor's log goes (a failed runner's stays for whoever looks into it).
            if status == 0 { unlink(log) }
            exit(status)
        }
        dispatchMain()
    }

    /// The lock directory `--lock-dir` or `DISPATCH_RUNNER_LOCK_DIR` names, else the default.
    static func lockDirectory(_ arguments: RunnerArguments, _ environment: [String: String]) -> LockDirectory {
        LockDirectory(
            path: arguments.lockDirectory ?? environment[LockDirectory.environmentVariable] ?? LockDirectory.defaultPath
        )
    }

    /// The sandbox settings of `configuration`, with bwrap at `DISPATCH_RUNNER_BWRAP` when that is set.
    static func sandbox(_ configuration: RunnerConfiguration, _ environment: [String: String]) -> SandboxSettings {
        var sandbox = configuration.sandbox
        if let bwrap = environment["DISPATCH_RUNNER_BWRAP"] { sandbox.bwrapLocations = [bwrap] }
        return sandbox
    }

    /// The UUID of a mode that needs one; parsing has checked its shape.
    static func containerUUID(_ arguments: RunnerArguments) throws(RunnerError) -> ContainerUUID {
        guard let uuid = arguments.containerUUID else {
            throw RunnerError(.usage, "a container UUID (xxxxx-dz642-xxxxxxxxxxxxxxx) is required")
        }
        return uuid
    }

    /// The detached child: keeps the lock (descriptor 3) away from the container, reads the configuration, and
    /// makes the supervisor.
    static func makeSupervisor(
        _ arguments: RunnerArguments,
        stdin: Data,
        start: Detacher.Start,
        lockDirectory: LockDirectory,
        environment: [String: String],
        configuration given: RunnerConfiguration?
    ) throws(RunnerError) -> ContainerSupervisor {
        for fd in [Detacher.lockDescriptor, Detacher.readyDescriptor] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let ready = fcntl(Detacher.readyDescriptor, F_GETFD) >= 0 ? Detacher.readyDescriptor : nil
        let uuid = ContainerUUID(rawValue: arguments.uuid ?? "")
        POSIX.writeError("dispatch-runner: supervising \(uuid.rawValue) (pid \(getpid()), \(start.rawValue))\n")
        let configuration: RunnerConfiguration
        if let given {
            configuration = given
        } else {
            configuration = try RunnerConfiguration.read(
                stdin: stdin,
                arguments: arguments,
                processEnvironment: environment
            )
        }
        // A supervisor makes a handful of requests in its life: no event loops for them when the API is plain HTTP.
        let client: ArvadosClient
        do {
            client = try configuration.client()
        } catch {
            if let ready { _ = "error: \(error.message)\n".withCString { write(ready, $0, strlen($0)) } }
            throw error
        }
        let sandbox = self.sandbox(configuration, environment)
        return ContainerSupervisor(
            uuid: uuid,
            client: client,
            engine: arguments.runtimeEngine,
            workRoot: environment["DISPATCH_RUNNER_WORK_DIR"]
                ?? POSIX.temporaryDirectory(environment) + "/dispatch-runner",
            readyDescriptor: ready,
            container: configuration.container,
            sandbox: sandbox,
            costing: ContainerSupervisor.Costing(
                instanceType: configuration.env["InstanceType"],
                pricesFile: lockDirectory.path + "/" + CostMeter.pricesFileName,
                updateInterval: .seconds(
                    Int(environment["DISPATCH_RUNNER_COST_INTERVAL"] ?? "").flatMap { $0 > 0 ? $0 : nil } ?? 60
                )
            ),
            spotCheck: configuration.ec2SpotCheck
                ? URL(
                    string: environment[SpotInterruptionWatcher.metadataURLVariable]
                        ?? SpotInterruptionWatcher.defaultMetadataURL
                ).map { SpotInterruptionWatcher(metadataURL: $0) } : nil
        )
    }

    /// This program's own path, to re-execute as the supervisor.
    static var executablePath: String {
        POSIX.readLink("/proc/self/exe") ?? CommandLine.arguments[0]
    }
}
