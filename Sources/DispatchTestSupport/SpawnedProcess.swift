import CRunnerSupport
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for tests that run helper programs and the package's own
/// executables.
///
/// `Foundation.Process` is not used: on Linux it notices a child's exit through a socket the child inherits,
/// so any other process that inherits that socket too (a helper started at the same moment by a parallel
/// test) delays the notice for as long as it lives. Here the child gets only its three standard streams
/// (every other descriptor is closed by the spawn itself), and a dedicated thread reaps it with `waitpid`,
/// so a test awaiting its exit never holds one of the few cooperative threads.
public final class SpawnedProcess: Sendable {
    /// How a process ended.
    public enum Termination: Equatable, Sendable {
        case exited(Int32)
        case signalled(Int32)

        init(waitStatus status: Int32) {
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as functions.
            let signal = status & 0x7f
            self = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
        }

        /// The exit status, or the signal number for a process killed by a signal.
        public var status: Int32 {
            switch self {
            case .exited(let code): code
            case .signalled(let signal): signal
            }
        }
    }

    /// Where a standard stream of the child goes.
    public enum Stream: Sendable {
        /// `/dev/null`.
        case null
        /// A file, opened for reading (stdin) or truncated and opened for writing (stdout, stderr).
        case file(String)
        /// A descriptor of this process, duplicated into the child (this process keeps its own copy).
        case descriptor(Int32)
    }

    private struct State {
        var termination: Termination?
        var waiters: [CheckedContinuation<Termination, Never>] = []
    }

    /// The child's process ID.
    public let pid: Int32
    private let state: Mutex<State>

    private init(pid: Int32) {
        self.pid = pid
        self.state = Mutex(State())
    }

    /// Starts `executable` with `arguments`.
    ///
    /// - Parameters:
    ///   - environment: the child's whole environment; `nil` passes this process's environment.
    ///   - currentDirectory: the child's working directory; `nil` keeps this process's.
    ///   - newProcessGroup: put the child in a process group of its own, so ``signalGroup(_:)`` reaches
    ///     everything it starts.
    ///   - extraDescriptors: descriptors of this process that the child gets as 3, 4, … (for protocols such as
    ///     Chromium's `--remote-debugging-pipe`); every other descriptor above 2 is closed in the child.
    public static func spawn(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        currentDirectory: String? = nil,
        stdin: Stream = .null,
        stdout: Stream = .null,
        stderr: Stream = .null,
        newProcessGroup: Bool = false,
        extraDescriptors: [Int32] = []
    ) throws -> SpawnedProcess {
        // Extra descriptors become the child's 3, 4, …; copies above any target keep one dup2 from clobbering
        // the source of the next.
        let extraCopies = extraDescriptors.map { fcntl($0, F_DUPFD_CLOEXEC, 64) }
        defer { for copy in extraCopies where copy >= 0 { close(copy) } }
        guard !extraCopies.contains(where: { $0 < 0 }) else {
            throw TestSupportError("cannot copy a descriptor for \(executable): errno \(errno)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch stream {
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                let flags = target == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC
                posix_spawn_file_actions_addopen(&actions, target, path, flags, 0o600)
            case .descriptor(let fd):
                posix_spawn_file_actions_adddup2(&actions, fd, target)
            }
        }
        for (index, copy) in extraCopies.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, copy, 3 + Int32(index))
        }
        runner_spawn_file_actions_addclosefrom(&actions, 3 + Int32(extraCopies.count))
        if let currentDirectory {
            runner_spawn_file_actions_addchdir(&actions, currentDirectory)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newProcessGroup {
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

        let environment = environment ?? ProcessInfo.processInfo.environment
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw TestSupportError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        let child = pid
        let process = SpawnedProcess(pid: child)
        let reaper = Thread { [process] in
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            process.finish(Termination(waitStatus: status))
        }
        reaper.name = "reap \(child)"
        reaper.start()
        return process
    }

    private func finish(_ termination: Termination) {
        let waiters = self.state.withLock { state in
            state.termination = termination
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: termination) }
    }

    /// How the process ended, or `nil` while it runs.
    public var termination: Termination? { self.state.withLock { $0.termination } }

    /// Whether the process still runs (it has not been reaped).
    public var isRunning: Bool { self.termination == nil }

    /// Suspends until the process exits.
    public func wait() async -> Termination {
        await withCheckedContinuation { continuation in
            let done = self.state.withLock { state -> Termination? in
                if let termination = state.termination { return termination }
                state.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Sends `signal` to the process, unless it has already been reaped (its PID may then belong to another).
    public func signal(_ signal: Int32) {
        self.state.withLock { state in
            if state.termination == nil { _ = kill(self.pid, signal) }
        }
    }

    /// Sends `signal` to the process group the process leads (see `newProcessGroup`).
    public func signalGroup(_ signal: Int32) {
        self.state.withLock { state in
            if state.termination == nil { _ = kill(-self.pid, signal) }
        }
    }

    /// Sends SIGTERM.
    public func terminate() { self.signal(SIGTERM) }
}
