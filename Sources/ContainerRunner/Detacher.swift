import CRunnerSupport
public import DispatchModel

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

/// `--detach`: takes the container's lock, starts a supervisor in a new session, and returns once the
/// container's process has started (or failed to).
///
/// The supervisor is this process forked, when it is still single-threaded (no second program start: about
/// 4 ms less per container), else a fresh copy of this program (`--no-detach`). Either way it holds the lock
/// file as descriptor 3 for its whole life, so `--list` and `--kill` find it by the lock, and reports `ok` or
/// `error: …` on a pipe at descriptor 4; its stdout and stderr go to `crunch-run-<uuid>.log` in the lock
/// directory.
public struct Detacher: Sendable {
    public var lockDirectory: LockDirectory
    /// The program to run as the supervisor (this executable).
    public var executable: String
    /// How long to wait for the supervisor to report.
    public var startTimeout: Duration = .seconds(60)

    public init(lockDirectory: LockDirectory, executable: String) {
        self.lockDirectory = lockDirectory
        self.executable = executable
    }

    /// The descriptor on which the supervisor finds its lock.
    public static let lockDescriptor: Int32 = 3
    /// The descriptor on which the supervisor reports readiness.
    public static let readyDescriptor: Int32 = 4

    /// How the supervisor came to be, as it notes in its log.
    public enum Start: String, Sendable {
        case forked
        case executed
    }

    /// Detaches a supervisor for `uuid`, handing it `stdin` and `arguments`.
    ///
    /// - Parameter supervise: the supervisor's whole life in a forked child, given `stdin`; it must not return.
    ///   Without it, or when this process has more than one thread (fork would copy only the calling one), a
    ///   fresh copy of ``executable`` supervises.
    /// - Returns: the process record printed on stdout (`{"UUID":…,"PID":…}`).
    public func detach(
        _ uuid: ContainerUUID,
        stdin: [UInt8],
        arguments: [String],
        environment: [String: String],
        supervise: ((_ stdin: [UInt8]) -> Never)? = nil
    ) throws(RunnerError) -> String {
        let lock = try self.lockDirectory.acquire(uuid)
        defer { close(lock) }
        let ready = try ContainerSupervisor.pipe()
        let logPath = self.lockDirectory.logFile(for: uuid)
        let log = open(logPath, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        defer { if log >= 0 { close(log) } }

        let pid: pid_t
        if let supervise, runner_thread_count() == 1 {
            do {
                pid = try Self.fork(lock: lock, ready: ready, log: log) { supervise(stdin) }
            } catch {
                close(ready.read)
                close(ready.write)
                unlink(self.lockDirectory.lockFile(for: uuid))
                throw error
            }
            close(ready.write)
        } else {
            pid = try self.spawn(
                uuid,
                lock: lock,
                ready: ready,
                log: log,
                stdin: stdin,
                arguments: arguments,
                environment: environment
            )
        }
        let record = LockDirectory.record(uuid: uuid, pid: pid, in: lock)
        let report = Self.readLine(ready.read, timeout: self.startTimeout)
        close(ready.read)
        switch report {
        case "ok":
            return record
        case let line? where line.hasPrefix("error: "):
            throw RunnerError(.spawn, String(line.dropFirst("error: ".count)))
        default:
            throw RunnerError(.spawn, "the supervisor exited before starting the container (see \(logPath))")
        }
    }

    /// Forks; the child becomes the supervisor in a new session with the descriptors a `--no-detach` copy
    /// would have (stdin /dev/null, stdout and stderr the log, 3 the lock, 4 the ready pipe, nothing else)
    /// and runs `body`. Returns the child's PID in the parent.
    private static func fork(
        lock: Int32,
        ready: (read: Int32, write: Int32),
        log: Int32,
        body: () -> Never
    ) throws(RunnerError) -> pid_t {
        // Nothing buffered may be written twice, once by each process.
        fflush(nil)
        let pid = Glibc.fork()
        guard pid >= 0 else {
            throw RunnerError(.spawn, "cannot fork the supervisor: \(String(cString: strerror(errno)))")
        }
        guard pid == 0 else { return pid }
        // The child: nothing here may fail loudly, so each step is best effort; the supervisor reports on 4.
        _ = setsid()
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        let output = log >= 0 ? log : null
        // Out of the way of 0–4 first, so no dup2 below overwrites a descriptor still to be moved.
        let moved = [null, output, output, lock, ready.write].map { fcntl($0, F_DUPFD_CLOEXEC, 10) }
        for (target, source) in moved.enumerated() { _ = dup2(source, Int32(target)) }
        runner_close_from(Self.readyDescriptor + 1)
        var signals = sigset_t()
        sigemptyset(&signals)
        sigprocmask(SIG_SETMASK, &signals, nil)
        body()
    }

    /// Starts a fresh copy of ``executable`` with `--no-detach`, `stdin` on a pipe.
    private func spawn(
        _ uuid: ContainerUUID,
        lock: Int32,
        ready: (read: Int32, write: Int32),
        log: Int32,
        stdin: [UInt8],
        arguments: [String],
        environment: [String: String]
    ) throws(RunnerError) -> pid_t {
        let input: (read: Int32, write: Int32)
        do {
            input = try ContainerSupervisor.pipe()
        } catch {
            close(ready.read)
            close(ready.write)
            unlink(self.lockDirectory.lockFile(for: uuid))
            throw error
        }
        var options = ProcessSpawner.Options()
        options.descriptors = [
            (0, input.read), (1, log >= 0 ? log : input.read), (2, log >= 0 ? log : input.read),
            (Self.lockDescriptor, lock), (Self.readyDescriptor, ready.write),
        ]
        options.newSession = true
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(
                [self.executable, "--no-detach"] + arguments + [uuid.rawValue],
                environment: environment,
                options: options
            )
        } catch {
            for fd in [input.read, input.write, ready.read, ready.write] { close(fd) }
            unlink(self.lockDirectory.lockFile(for: uuid))
            throw error
        }
        close(input.read)
        close(ready.write)
        POSIX.writeAll(input.write, stdin)
        close(input.write)
        return pid
    }

    /// Reads one line, waiting at most `timeout`; `nil` on end of file or timeout.
    static func readLine(_ fd: Int32, timeout: Duration) -> String? {
        var line: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var byte: UInt8 = 0
        while ContinuousClock.now < deadline {
            guard POSIX.wait(fd, for: Int16(POLLIN), until: deadline) > 0 else { return nil }
            guard read(fd, &byte, 1) == 1 else { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        return nil
    }
}
