import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on `<DataDirectory>/dispatch-cloud.lock`, held for the dispatcher's life, so a second
/// dispatcher on the same data refuses to start (Arvados uses a database advisory lock for the same purpose).
///
/// The lock file records the holder's PID for the error message; the kernel drops the lock when the process
/// dies, even by `kill -9`.
final class DataDirectoryLock: Sendable {
    static let fileName = "dispatch-cloud.lock"

    private let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Creates the directory (mode 0700) if needed and takes the lock, or throws naming the holder.
    static func acquire(_ directory: String) throws(DispatcherError) -> DataDirectoryLock {
        do {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw DispatcherError(
                .dataDirectory,
                "DispatchCloud.DataDirectory: cannot create \(directory): \(error.localizedDescription)"
            )
        }
        let path = directory + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw DispatcherError(
                .dataDirectory,
                "DispatchCloud.DataDirectory: cannot open \(path): \(String(cString: strerror(errno)))"
            )
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            let holder =
                count > 0
                ? String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                : "?"
            throw DispatcherError(
                .alreadyRunning,
                "another dispatch-cloud (pid \(holder)) is using the data directory \(directory); stop it first"
            )
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        return DataDirectoryLock(descriptor: fd)
    }

    /// Releases the lock.
    func release() {
        flock(self.descriptor, LOCK_UN)
    }

    deinit {
        close(self.descriptor)
    }
}
