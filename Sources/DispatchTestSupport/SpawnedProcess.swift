import Foundation
import ProcessSpawning
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

        init(_ termination: ProcessSpawning.Termination) {
            switch termination {
            case .exited(let code): self = .exited(code)
            case .signalled(let signal): self = .signalled(signal)
            }
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
        var fileActions: [Spawn.FileAction] = []
        for (target, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch stream {
            case .null:
                fileActions.append(.open("/dev/null", as: target, flags: target == 0 ? O_RDONLY : O_WRONLY, mode: 0))
            case .file(let path):
                let flags = target == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC
                fileActions.append(.open(path, as: target, flags: flags, mode: 0o600))
            case .descriptor(let fd):
                fileActions.append(.duplicate(fd, to: target))
            }
        }
        for (index, copy) in extraCopies.enumerated() {
            fileActions.append(.duplicate(copy, to: 3 + Int32(index)))
        }
        var spawn = Spawn([executable] + arguments, environment: environment ?? ProcessInfo.processInfo.environment)
        spawn.fileActions = fileActions
        spawn.keepDescriptorsBelow = 3 + Int32(extraCopies.count)
        spawn.workingDirectory = currentDirectory
        spawn.newProcessGroup = newProcessGroup
        let pid = try spawn.start()
        let child = pid
        let process = SpawnedProcess(pid: child)
        ExitWatch.onExit(of: child) { [process] in process.finish(Termination($0)) }
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
