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
}
