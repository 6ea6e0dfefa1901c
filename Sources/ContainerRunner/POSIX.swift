import ProcessSpawning

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few operating-system services the runner needs beyond FoundationEssentials, which it limits itself to:
/// full Foundation (with CoreFoundation and ICU) doubled the size of the runner and made each of its process
/// starts — several per container — about 40% dearer.
public enum POSIX: Sendable {
    /// This process's environment, read from `environ` (ProcessInfo's costs a runner's start about 0.17 ms).
    public static func environment() -> [String: String] {
        var environment: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let equals = text.utf8.firstIndex(of: UInt8(ascii: "=")) {
                let key = String(text[..<equals])
                // The first definition wins, as getenv(3) finds it.
                if environment[key] == nil { environment[key] = String(text[text.index(after: equals)...]) }
            }
            cursor += 1
        }
        return environment
    }

    /// Waits until `fd` has one of `events` (or an error or hang-up) or `deadline` passes, as poll(2): 1 when it has,
    /// 0 when the time ran out, -1 when poll failed. An interrupted wait resumes with the time that remains; a
    /// deadline already past asks once without waiting.
    static func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant) -> Int32 {
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            var milliseconds: Int32 = 0
            if remaining > .zero {
                // Saturating: poll takes an Int32 of milliseconds, and a timeout may be anyone's to set.
                let seconds = min(remaining.components.seconds, Int64(Int32.max / 1000))
                milliseconds = Int32(
                    clamping: max(1, seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)
                )
            }
            var poller = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&poller, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            return ready
        }
    }

    /// The directory for temporary files: `TMPDIR` when it is an absolute path, else `/tmp` (as
    /// FileManager's `temporaryDirectory`, without its start-up cost).
    public static func temporaryDirectory(_ environment: [String: String]) -> String {
        guard let directory = environment["TMPDIR"], directory.hasPrefix("/") else { return "/tmp" }
        var trimmed = Substring(directory)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }

    /// The target of symlink `path`, or nil.
    public static func readLink(_ path: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                readlink(path, $0, buffer.count)
            }
        }
        guard count > 0, count < buffer.count else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    /// Writes `text` to standard error, whole.
    public static func writeError(_ text: String) {
        Self.writeAll(2, Array(text.utf8))
    }

    /// Writes `bytes` to `fd`, retrying short writes and interruptions; gives up on any other error.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }

    /// Everything on standard input until its end.
    public static func readStandardInput() -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if count > 0 {
                result += chunk[0..<count]
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                return result
            }
        }
    }

    /// Runs `body` on a new detached thread of its own (for blocking calls that must stay off the cooperative
    /// pool: reading a pipe, waiting for a child).
    public static func startThread(_ body: @escaping @Sendable () -> Void) {
        ExitWatch.startThread(body)
    }

    /// Whether `path` names a directory.
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and any missing parents, like `mkdir -p`; the error in words.
    public static func makeDirectories(_ path: String) -> String? {
        if Self.isDirectory(path) { return nil }
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                return String(cString: strerror(errno))
            }
        }
        return Self.isDirectory(path) ? nil : "not a directory"
    }

    /// Removes `path` and everything under it without following a symlink anywhere (a symlink is removed, never
    /// its target), going at most `maxDepth` directories down; what cannot be removed stays. Best effort: true
    /// when `path` no longer exists.
    ///
    /// Made for directories a container wrote: each level is opened relative to its parent's descriptor with
    /// `O_NOFOLLOW`, so a symlink planted anywhere in the tree cannot lead the removal out of it.
    @discardableResult
    public static func removeTree(_ path: String, maxDepth: Int = 256) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return errno == ENOENT }
        guard info.st_mode & S_IFMT == S_IFDIR else { return unlink(path) == 0 }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0 {
            Self.emptyDirectory(fd, depth: maxDepth)
            close(fd)
        }
        return rmdir(path) == 0 || errno == ENOENT
    }

    /// Removes the entries of the open directory `fd` (which this call does not close), `depth` levels down.
    private static func emptyDirectory(_ fd: Int32, depth: Int) {
        // A descriptor of its own for the listing: closedir closes it, and `fd` stays for the unlinks.
        let listing = dup(fd)
        guard listing >= 0, let directory = fdopendir(listing) else {
            if listing >= 0 { close(listing) }
            return
        }
        var names: [[CChar]] = []
        var subdirectories: [[CChar]] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                Array(bytes.prefix { $0 != 0 }.map { CChar(bitPattern: $0) }) + [0]
            }
            if name == [46, 0] || name == [46, 46, 0] { continue }
            var info = stat()
            guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFDIR { subdirectories.append(name) } else { names.append(name) }
        }
        closedir(directory)
        for name in names { _ = unlinkat(fd, name, 0) }
        guard depth > 0 else { return }
        for name in subdirectories {
            let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { continue }
            Self.emptyDirectory(child, depth: depth - 1)
            close(child)
            _ = unlinkat(fd, name, AT_REMOVEDIR)
        }
    }
}
