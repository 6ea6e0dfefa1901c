import CRunnerSupport
import ProcessSpawning

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

/// Starts child processes with `posix_spawn`, with the control the runner needs and `Foundation.Process`
/// lacks: extra inherited descriptors (the lock file), a new session or process group, and no `fork` in a
/// multithreaded process.
enum ProcessSpawner {
    struct Options {
        /// Descriptors to make available in the child: child fd ← parent fd.
        var descriptors: [(child: Int32, parent: Int32)] = []
        /// Start a new session (the detached runner), so it outlives the SSH session that started it.
        var newSession = false
        /// Start a new process group (the container), so it can be signalled as a whole.
        var newProcessGroup = false
        /// Look the executable up in `PATH` of `environment`.
        var searchPath = false
        /// Working directory of the child.
        var workingDirectory: String?
    }

    /// Spawns `arguments[0]` with `arguments` and `environment`; returns its PID.
    static func spawn(
        _ arguments: [String],
        environment: [String: String],
        options: Options
    ) throws(RunnerError) -> pid_t {
        guard let executable = arguments.first, !executable.isEmpty else {
            throw RunnerError(.spawn, "empty command")
        }
        var spawn = Spawn(arguments, environment: environment)
        spawn.fileActions = options.descriptors.map { .duplicate($0.parent, to: $0.child) }
        // Nothing else reaches the child: descriptors inherited from whoever started this process (a test
        // runner's pipes, an SSH server's sockets) would otherwise be held open for the child's whole life.
        spawn.keepDescriptorsBelow = (options.descriptors.map(\.child).max() ?? 2) + 1
        spawn.workingDirectory = options.workingDirectory
        spawn.newSession = options.newSession
        spawn.newProcessGroup = options.newProcessGroup
        if options.searchPath {
            let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            guard let resolved = Self.resolve(executable, path: path) else {
                throw RunnerError(.spawn, "\(executable): command not found")
            }
            spawn.executable = resolved
        }
        do {
            return try spawn.start()
        } catch {
            throw RunnerError(.spawn, error.description)
        }
    }

    /// What ``spawnConfined(_:environment:descriptors:workingDirectory:confinement:)`` applies to the child
    /// before its exec.
    struct Confinement: Sendable {
        /// Switch to this UID and GID, with no supplementary groups.
        var credentials: (uid: UInt32, gid: UInt32)?
        /// `tasks` of a cgroup v1 hierarchy to join: the child writes "0" to it, moving itself (see `MemoryCgroup.tasks`).
        var cgroupTasks: Int32?
        /// `RLIMIT_AS`, in bytes.
        var addressSpaceLimit: UInt64?
    }

    /// Starts the program at the absolute path `arguments[0]` in a new process group with `descriptors[i]` as
    /// its descriptor `i`: standard input, output and error, then any others (nothing else inherited), after
    /// applying `confinement`; returns its PID.
    static func spawnConfined(
        _ arguments: [String],
        environment: [String: String],
        descriptors: [Int32],
        workingDirectory: String?,
        confinement: Confinement
    ) throws(RunnerError) -> pid_t {
        guard let executable = arguments.first, executable.hasPrefix("/") else {
            throw RunnerError(.spawn, "not an absolute program path: \(arguments.first ?? "")")
        }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        guard (3...Int(RUNNER_SPAWN_MAX_FDS)).contains(descriptors.count) else {
            throw RunnerError(.spawn, "cannot pass \(descriptors.count) descriptors to \(executable)")
        }
        var step: Int32 = 0
        var error: Int32 = 0
        let uid = confinement.credentials.map { Int32(bitPattern: $0.uid) } ?? -1
        let gid = confinement.credentials.map { Int32(bitPattern: $0.gid) } ?? -1
        let pid = descriptors.withUnsafeBufferPointer { fds in
            runner_spawn_confined(
                executable,
                argv,
                envp,
                fds.baseAddress,
                Int32(fds.count),
                confinement.cgroupTasks ?? -1,
                confinement.addressSpaceLimit ?? 0,
                uid,
                gid,
                workingDirectory,
                &step,
                &error
            )
        }
        guard pid > 0 else {
            let steps = [
                2: "start a child process", 3: "set up its descriptors", 4: "join its memory cgroup",
                5: "set its address-space limit", 6: "drop supplementary groups", 7: "set GID \(gid)",
                8: "set UID \(uid)", 9: "enter \(workingDirectory ?? "")", 10: "execute \(executable)",
            ]
            throw RunnerError(
                .spawn,
                "cannot start \(executable): cannot \(steps[Int(step)] ?? "start it"): \(String(cString: strerror(error)))"
            )
        }
        return pid
    }

    /// Finds `name` in `path` the way a shell does (names with a slash are used as they are).
    static func resolve(_ name: String, path: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            var info = stat()
            if access(candidate, X_OK) == 0, stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
                return candidate
            }
        }
        return nil
    }

    /// Waits for `pid` on a dedicated thread (never on the cooperative pool) and returns its wait status.
    static func waitForExit(_ pid: pid_t) async -> ExitStatus {
        await withCheckedContinuation { continuation in
            ExitWatch.startThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: ExitStatus(waitStatus: status))
            }
        }
    }

    /// How a process ended.
    enum ExitStatus: Equatable, Sendable {
        case exited(Int32)
        case signalled(Int32)

        init(waitStatus status: Int32) {
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as functions.
            let signal = status & 0x7f
            self = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
        }

        /// The exit code Arvados records: the status, or 128 + the signal number (as Docker reports it).
        var exitCode: Int {
            switch self {
            case .exited(let code): Int(code)
            case .signalled(let signal): 128 + Int(signal)
            }
        }
    }
}
