import CRunnerSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `posix_spawn` of a program, with what every process this package starts needs: no descriptor
/// inherited but the ones asked for, default signal dispositions and an empty signal mask (the spawning
/// thread may block or ignore signals, as event-loop threads and NIO's SIGPIPE handling do), and optionally a
/// working directory, a process group or a session of its own.
///
/// The runner, the SSH server's sessions, the test support's helper processes and `moto_server` all start
/// their children through this one value. `Foundation.Process` is not used: it cannot close inherited
/// descriptors, and on Linux it notices a child's exit through a socket every concurrently started child
/// inherits. swift-subprocess is not used either: its processes live only inside a closure, while these
/// outlive the call that starts them (a detached runner, a server for a whole test, a session's command whose
/// pipes NIO reads).
public struct Spawn: Sendable {
    /// What to do with a descriptor in the child before its program starts, in order.
    public enum FileAction: Sendable, Equatable {
        /// Make `source` (a descriptor of this process) the child's `target`.
        case duplicate(Int32, to: Int32)
        /// Open `path` as the child's `target` with `flags` (and `mode` when it creates the file).
        case open(String, as: Int32, flags: Int32, mode: UInt32)
    }

    /// The program: an absolute path, or a name looked up in `PATH` when ``searchPath`` is set.
    public var executable: String
    /// The child's `argv`, its program name first.
    public var arguments: [String]
    /// The child's whole environment.
    public var environment: [String: String]
    /// Descriptor set-up, applied in order before every descriptor from ``keepDescriptorsBelow`` up is closed.
    public var fileActions: [FileAction] = []
    /// The child keeps only its descriptors below this one; every other is closed by the spawn itself.
    public var keepDescriptorsBelow: Int32 = 3
    /// The child's working directory; `nil` keeps this process's.
    public var workingDirectory: String?
    /// Start the child in a process group of its own, so that it and what it starts can be signalled at once.
    public var newProcessGroup = false
    /// Start the child in a session of its own, so that it outlives the session (an SSH session) that started
    /// it.
    public var newSession = false
    /// Look ``executable`` up in the `PATH` of ``environment`` when it has no slash.
    public var searchPath = false

    /// A spawn of `arguments[0]` with `arguments`.
    public init(_ arguments: [String], environment: [String: String]) {
        self.executable = arguments.first ?? ""
        self.arguments = arguments
        self.environment = environment
    }

    /// Why a spawn failed.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// The program that could not be started.
        public var executable: String
        /// The `errno` value, or `ENOENT` for a program not found on `PATH`.
        public var code: Int32

        public var description: String {
            "cannot start \(self.executable): \(String(cString: strerror(self.code)))"
        }
    }

    /// Starts the child and returns its process ID.
    public func start() throws(Failure) -> Int32 {
        guard !self.executable.isEmpty else { throw Failure(executable: "an empty command", code: ENOENT) }
        var program = self.executable
        if self.searchPath, !program.contains("/") {
            let path = self.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            guard let found = Self.resolve(program, path: path) else {
                throw Failure(executable: program, code: ENOENT)
            }
            program = found
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for action in self.fileActions {
            switch action {
            case .duplicate(let source, let target):
                posix_spawn_file_actions_adddup2(&actions, source, target)
            case .open(let path, let target, let flags, let mode):
                posix_spawn_file_actions_addopen(&actions, target, path, flags, mode_t(mode))
            }
        }
        runner_spawn_file_actions_addclosefrom(&actions, max(3, self.keepDescriptorsBelow))
        if let directory = self.workingDirectory {
            runner_spawn_file_actions_addchdir(&actions, directory)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if self.newSession { flags |= Int32(runner_spawn_setsid_flag()) }
        if self.newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)

        let argv = self.arguments.map { strdup($0) } + [nil]
        let envp = self.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        guard result == 0 else { throw Failure(executable: program, code: result) }
        return pid
    }

    /// The first executable `name` in the colon-separated `path`, or `nil`.
    public static func resolve(_ name: String, path: String) -> String? {
        for directory in path.split(separator: ":", omittingEmptySubsequences: true) {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
