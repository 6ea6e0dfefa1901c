#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a child process ended.
public enum Termination: Sendable, Equatable {
    /// It exited with this status.
    case exited(Int32)
    /// A signal with this number killed it.
    case signalled(Int32)

    /// Reads a `waitpid` status (WIFEXITED / WEXITSTATUS / WTERMSIG are C macros Swift does not import).
    public init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    /// The status a shell reports: the exit status, or 128 plus the signal.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let code): code
        case .signalled(let signal): 128 + signal
        }
    }
}

/// Reaps child processes on dedicated threads, since `waitpid` blocks: no cooperative thread and no event loop
/// ever waits on a child.
public enum ExitWatch: Sendable {
    /// Waits for `pid` on a new detached thread and calls `onExit` there once it has ended.
    public static func onExit(of pid: Int32, _ onExit: @escaping @Sendable (Termination) -> Void) {
        Self.startThread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            onExit(Termination(waitStatus: status))
        }
    }

    /// Suspends until `pid` has ended.
    public static func termination(of pid: Int32) async -> Termination {
        await withCheckedContinuation { continuation in
            Self.onExit(of: pid) { continuation.resume(returning: $0) }
        }
    }

    /// Runs `body` on a new detached POSIX thread (or here, when no thread can be had).
    public static func startThread(_ body: @escaping @Sendable () -> Void) {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread,
            nil,
            { argument in
                guard let argument else { return nil }
                let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
                box.body()
                return nil
            },
            box
        )
        if status == 0 {
            pthread_detach(thread)
        } else {
            // No thread to be had: run it here rather than lose it.
            Unmanaged<Box>.fromOpaque(box).takeRetainedValue().body()
        }
    }
}
