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

/// The runner's lock files, compatible with `crunch-run`'s: one `crunch-run-<uuid>.lock` per container, held
/// with `flock` by the detached runner for its whole life, a directory-level `crunch-run-all.lock`, and a
/// `crunch-run-broken` marker.
///
/// A lock file that is locked names a live runner (or, when its PID is gone, a stale lock held by an orphan);
/// an unlocked one was abandoned and is removed by ``list()``.
public struct LockDirectory: Sendable {
    /// The folder holding the lock files: `/var/lock` on a VM, a per-instance folder under loopback.
    public let path: String

    public init(path: String) { self.path = path }

    /// The environment variable that overrides the default lock directory.
    public static let environmentVariable = "DISPATCH_RUNNER_LOCK_DIR"
    /// Where `crunch-run` keeps its locks.
    public static let defaultPath = "/var/lock"

    public func lockFile(for uuid: ContainerUUID) -> String { "\(self.path)/crunch-run-\(uuid.rawValue).lock" }
    public var directoryLockFile: String { "\(self.path)/crunch-run-all.lock" }
    public var brokenMarker: String { "\(self.path)/crunch-run-broken" }

    /// What `--list` reports: live runners, stale locks, and the broken marker. Removes abandoned lock files.
    public func list() throws(RunnerError) -> RunnerList {
        let directoryLock = try self.lockDirectory()
        defer { close(directoryLock) }
        var report = RunnerList()
        report.broken = FileManager.default.fileExists(atPath: self.brokenMarker)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: self.path)) ?? []
        for name in names.sorted() where name.hasPrefix("crunch-run-") && name.hasSuffix(".lock") {
            let uuid = ContainerUUID(rawValue: String(name.dropFirst("crunch-run-".count).dropLast(".lock".count)))
            guard uuid.isWellFormed else { continue }
            switch self.probe(uuid) {
            case .abandoned:
                unlink(self.lockFile(for: uuid))
            case .held(let pid):
                if let pid, Self.processExists(pid) {
                    report.running.append(uuid)
                } else {
                    report.stale.append(uuid)
                }
            case .missing:
                continue
            }
        }
        return report
    }

    /// Creates the lock file of `uuid` and takes its lock, failing if a runner already holds it.
    ///
    /// The returned descriptor carries the lock; the detached runner inherits it and holds it until it exits.
    public func acquire(_ uuid: ContainerUUID) throws(RunnerError) -> Int32 {
        let directoryLock = try self.lockDirectory()
        defer { close(directoryLock) }
        let fd = open(self.lockFile(for: uuid), O_CREAT | O_RDWR | O_CLOEXEC, 0o700)
        guard fd >= 0 else {
            throw RunnerError(.lockDirectory, "cannot open \(self.lockFile(for: uuid)): \(Self.errnoText())")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw RunnerError(.alreadyRunning, "a runner for \(uuid) is already running")
        }
        _ = ftruncate(fd, 0)
        return fd
    }

    /// Records the runner's PID in its lock file (`{"UUID":"…","PID":n}`), as `crunch-run` does.
    public static func record(uuid: ContainerUUID, pid: Int32, in fd: Int32) -> String {
        let line = "{\"UUID\":\"\(uuid.rawValue)\",\"PID\":\(pid)}\n"
        _ = ftruncate(fd, 0)
        _ = line.withCString { pwrite(fd, $0, strlen($0), 0) }
        return line
    }

    enum LockState: Equatable {
        case missing
        case abandoned
        case held(pid: Int32?)
    }

    /// Whether the lock of `uuid` is held, and by which PID according to the file.
    func probe(_ uuid: ContainerUUID) -> LockState {
        let fd = open(self.lockFile(for: uuid), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .missing }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return .abandoned
        }
        return .held(pid: Self.recordedPID(fd))
    }

    /// Sends `signal` to the runner of `uuid` and waits up to one second for it to exit.
    ///
    /// Returns `true` when no runner is left (there was none, or it exited), `false` if it is still alive.
    public func kill(_ uuid: ContainerUUID, signal: Int32) -> Bool {
        guard case .held(let pid?) = self.probe(uuid), Self.processExists(pid) else { return true }
        _ = sendSignal(pid, signal)
        for _ in 0..<100 {
            if !Self.processExists(pid) { return true }
            usleep(10_000)
        }
        return !Self.processExists(pid)
    }

    private func lockDirectory() throws(RunnerError) -> Int32 {
        if let problem = POSIX.makeDirectories(self.path) {
            throw RunnerError(.lockDirectory, "cannot create lock directory \(self.path): \(problem)")
        }
        let fd = open(self.directoryLockFile, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw RunnerError(.lockDirectory, "cannot open \(self.directoryLockFile): \(Self.errnoText())")
        }
        flock(fd, LOCK_EX)
        return fd
    }

    static func recordedPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        struct Record: Decodable {
            var PID: Int32
        }
        return try? JSONDecoder().decode(Record.self, from: Data(buffer[0..<count])).PID
    }

    /// Whether a process with this PID exists (a zombie counts until reaped).
    public static func processExists(_ pid: Int32) -> Bool {
        sendSignal(pid, 0) == 0 || errno == EPERM
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// The C `kill(2)`, under a name that does not clash with ``LockDirectory/kill(_:signal:)``.
func sendSignal(_ pid: Int32, _ signal: Int32) -> Int32 {
    kill(pid, signal)
}
