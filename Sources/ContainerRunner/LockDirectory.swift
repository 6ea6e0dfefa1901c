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
/// an unlocked one was abandoned and is removed by ``list(report:)``.
///
/// Every lock file is opened without blocking (`O_NONBLOCK`: a FIFO named like a lock file must not stall the
/// runner), without following a symbolic link, and used only when it is a regular file. The directory lock is
/// waited for at most ``directoryLockTimeout``: `--list` then goes on without it (leaving abandoned lock files
/// for a later listing), and `--detach` fails with the reason.
public struct LockDirectory: Sendable {
    /// The folder holding the lock files: `/var/lock` on a VM, a per-instance folder under loopback.
    public let path: String
    /// How long to wait for another process to release `crunch-run-all.lock`.
    public var directoryLockTimeout: Duration = .seconds(2)

    public init(path: String) { self.path = path }

    /// The environment variable that overrides the default lock directory.
    public static let environmentVariable = "DISPATCH_RUNNER_LOCK_DIR"
    /// Where `crunch-run` keeps its locks.
    public static let defaultPath = "/var/lock"

    public func lockFile(for uuid: ContainerUUID) -> String { "\(self.path)/crunch-run-\(uuid.rawValue).lock" }
    /// The supervisor's own stdout and stderr: kept when the runner fails, removed once it has finalized its
    /// container (else one file per container would pile up here, and every `--list` would read them all).
    public func logFile(for uuid: ContainerUUID) -> String { "\(self.path)/crunch-run-\(uuid.rawValue).log" }
    public var directoryLockFile: String { "\(self.path)/crunch-run-all.lock" }
    public var brokenMarker: String { "\(self.path)/crunch-run-broken" }

    /// What `--list` reports: live runners, stale locks, and the broken marker. Removes abandoned lock files.
    ///
    /// Never waits for another process longer than ``directoryLockTimeout``; `report` is told of lock files it
    /// skipped and of a directory lock it could not take.
    public func list(report: (String) -> Void = { _ in }) throws(RunnerError) -> RunnerList {
        let directoryLock: Int32?
        do {
            directoryLock = try self.lockDirectory()
        } catch  where error.code == .lockDirectoryBusy {
            // Listing needs no lock; only removing abandoned files does, so those wait for a later listing.
            report("\(error.message); listing without removing abandoned lock files")
            directoryLock = nil
        }
        defer { if let directoryLock { close(directoryLock) } }
        var list = RunnerList()
        list.broken = FileManager.default.fileExists(atPath: self.brokenMarker)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: self.path)) ?? []
        for name in names.sorted() where name.hasPrefix("crunch-run-") && name.hasSuffix(".lock") {
            let uuid = ContainerUUID(rawValue: String(name.dropFirst("crunch-run-".count).dropLast(".lock".count)))
            guard uuid.isWellFormed else { continue }
            switch self.probe(uuid) {
            case .abandoned:
                if directoryLock != nil { unlink(self.lockFile(for: uuid)) }
            case .held(let record) where record.uuid == uuid.rawValue && Self.processExists(record.pid):
                list.running.append(uuid)
            case .held:
                list.stale.append(uuid)
            case .garbage(let problem):
                // Something holds the lock: report it stale (the dispatcher starts nothing there) and say why.
                report(problem)
                list.stale.append(uuid)
            case .starting, .missing:
                // Locked but not yet written (a runner between its lock and its record), as crunch-run skips it.
                continue
            case .unusable(let problem):
                report(problem)
            }
        }
        return list
    }

    /// Creates the lock file of `uuid` and takes its lock, failing if a runner already holds it.
    ///
    /// The returned descriptor carries the lock; the detached runner inherits it and holds it until it exits.
    public func acquire(_ uuid: ContainerUUID) throws(RunnerError) -> Int32 {
        let directoryLock = try self.lockDirectory()
        defer { close(directoryLock) }
        guard let fd = try Self.openLockFile(self.lockFile(for: uuid), create: true, mode: 0o700) else {
            throw RunnerError(.lockDirectory, "cannot create \(self.lockFile(for: uuid))")
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

    /// What a runner wrote in its lock file.
    struct Record: Decodable, Equatable {
        var uuid: String
        var pid: Int32

        enum CodingKeys: String, CodingKey {
            case uuid = "UUID"
            case pid = "PID"
        }
    }

    enum LockState: Equatable {
        /// No such file.
        case missing
        /// A lock file nobody holds.
        case abandoned
        /// Held, with the record the file holds.
        case held(Record)
        /// Held and still empty: its runner is between taking the lock and writing its record.
        case starting
        /// Held, holding something that is not a runner record.
        case garbage(String)
        /// Not usable as a lock file (not a regular file, unreadable): why.
        case unusable(String)
    }

    /// Whether the lock of `uuid` is held, and by which runner according to the file.
    func probe(_ uuid: ContainerUUID) -> LockState {
        let path = self.lockFile(for: uuid)
        let fd: Int32
        do {
            guard let opened = try Self.openLockFile(path, create: false) else { return .missing }
            fd = opened
        } catch {
            return .unusable(error.message)
        }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return .abandoned
        }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = pread(fd, &buffer, buffer.count, 0)
        if count == 0 { return .starting }
        guard count > 0 else { return .garbage("cannot read \(path): \(Self.errnoText())") }
        guard let record = try? JSONDecoder().decode(Record.self, from: Data(buffer[0..<count])) else {
            return .garbage("\(path) holds no runner record")
        }
        // A PID of 0 or below would signal a whole process group, or every process: never one to use.
        guard record.pid > 0 else { return .garbage("\(path) holds PID \(record.pid)") }
        return .held(record)
    }

    /// Sends `signal` to the runner of `uuid` and waits up to one second for it to exit.
    ///
    /// Returns `true` when no runner is left (there was none, or it exited), `false` if it is still alive.
    /// Throws when a held lock names no runner (empty, garbage, another container's, not a regular file), so
    /// nothing was signalled.
    public func kill(_ uuid: ContainerUUID, signal: Int32) throws(RunnerError) -> Bool {
        let pid: Int32
        switch self.probe(uuid) {
        case .missing, .abandoned:
            return true
        case .held(let record):
            guard record.uuid == uuid.rawValue else {
                throw RunnerError(
                    .lockDirectory,
                    "\(self.lockFile(for: uuid)) is held but names another container: nothing signalled"
                )
            }
            pid = record.pid
        case .starting:
            throw RunnerError(
                .lockDirectory,
                "\(self.lockFile(for: uuid)) is held but holds no PID yet (its runner is starting): nothing signalled"
            )
        case .garbage(let problem), .unusable(let problem):
            throw RunnerError(.lockDirectory, "\(problem): nothing signalled")
        }
        guard Self.processExists(pid) else { return true }
        _ = sendSignal(pid, signal)
        for _ in 0..<100 {
            if !Self.processExists(pid) { return true }
            usleep(10_000)
        }
        return !Self.processExists(pid)
    }

    /// Opens and takes `crunch-run-all.lock`, waiting at most ``directoryLockTimeout`` for another holder.
    private func lockDirectory() throws(RunnerError) -> Int32 {
        if let problem = POSIX.makeDirectories(self.path) {
            throw RunnerError(.lockDirectory, "cannot create lock directory \(self.path): \(problem)")
        }
        guard let fd = try Self.openLockFile(self.directoryLockFile, create: true, mode: 0o600) else {
            throw RunnerError(.lockDirectory, "cannot create \(self.directoryLockFile)")
        }
        let deadline = ContinuousClock.now.advanced(by: self.directoryLockTimeout)
        // A `--list` holds the lock for well under a millisecond: the first retries come soon, so a `--detach`
        // that meets one loses a fraction of a millisecond, not one or more.
        var pause: UInt32 = 50
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let problem = errno
            guard problem == EWOULDBLOCK || problem == EINTR else {
                close(fd)
                throw RunnerError(.lockDirectory, "cannot lock \(self.directoryLockFile): \(Self.errnoText())")
            }
            guard ContinuousClock.now < deadline else {
                close(fd)
                throw RunnerError(
                    .lockDirectoryBusy,
                    "another process has held \(self.directoryLockFile) for over \(self.directoryLockTimeout)"
                )
            }
            usleep(pause)
            pause = min(pause * 2, 50_000)
        }
        return fd
    }

    /// Opens the lock file at `path` without blocking and without following a symbolic link, and only if it is
    /// a regular file; `nil` when it does not exist and `create` is false.
    static func openLockFile(_ path: String, create: Bool, mode: mode_t = 0o600) throws(RunnerError) -> Int32? {
        let flags = (create ? O_CREAT | O_RDWR : O_RDONLY) | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC
        let fd = open(path, flags, mode)
        guard fd >= 0 else {
            if errno == ENOENT && !create { return nil }
            let problem = errno == ELOOP ? "a symbolic link" : Self.errnoText()
            throw RunnerError(.lockDirectory, "cannot open \(path): \(problem)")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw RunnerError(.lockDirectory, "\(path) is not a regular file")
        }
        return fd
    }

    /// Whether a process with this PID exists (a zombie counts until reaped); never true for PID 0 or below.
    public static func processExists(_ pid: Int32) -> Bool {
        pid > 0 && (sendSignal(pid, 0) == 0 || errno == EPERM)
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// The C `kill(2)`, under a name that does not clash with ``LockDirectory/kill(_:signal:)``.
func sendSignal(_ pid: Int32, _ signal: Int32) -> Int32 {
    kill(pid, signal)
}
