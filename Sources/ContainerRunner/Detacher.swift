public import DispatchModel
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--detach`: takes the container's lock, starts a supervising copy of this program in a new session, and
/// returns once the container's process has started (or failed to).
///
/// The child inherits the lock file as descriptor 3 and holds it for its whole life, so `--list` and `--kill`
/// find it by the lock; descriptor 4 is a pipe on which it reports `ok` or `error: …`.
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

    /// Detaches a supervisor for `uuid`, handing it `stdin` and `arguments`.
    ///
    /// - Returns: the process record printed on stdout (`{"UUID":…,"PID":…}`).
    public func detach(
        _ uuid: ContainerUUID,
        stdin: [UInt8],
        arguments: [String],
        environment: [String: String]
    ) throws(RunnerError) -> String {
        let lock = try self.lockDirectory.acquire(uuid)
        defer { close(lock) }
        let input = try ContainerSupervisor.pipe()
        let ready = try ContainerSupervisor.pipe()
        let logPath = "\(self.lockDirectory.path)/crunch-run-\(uuid.rawValue).log"
        let log = open(logPath, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        defer { if log >= 0 { close(log) } }

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
        let record = LockDirectory.record(uuid: uuid, pid: pid, in: lock)
        Self.writeAll(input.write, stdin)
        close(input.write)
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

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }

    /// Reads one line, waiting at most `timeout`; `nil` on end of file or timeout.
    static func readLine(_ fd: Int32, timeout: Duration) -> String? {
        var line: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var byte: UInt8 = 0
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let remaining = ContinuousClock.now.duration(to: deadline)
            let milliseconds = Int32(
                max(1, remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)
            )
            let ready = poll(&poller, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return nil }
            guard read(fd, &byte, 1) == 1 else { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        return nil
    }
}
