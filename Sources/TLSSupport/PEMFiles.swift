import Foundation

/// Writing private TLS material: files readable by their owner only (0600), replaced atomically.
public enum PEMFiles: Sendable {
    /// Writes `text` to `path` with mode 0600, through a temporary file renamed into place.
    public static func writePrivate(_ text: String, to path: String) throws(TLSError) {
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw TLSError(.generation, "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if result < 0, errno == EINTR { continue }
            guard result > 0 else {
                close(descriptor)
                unlink(temporary)
                throw TLSError(.generation, "cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            written += result
        }
        _ = fchmod(descriptor, 0o600)
        guard fsync(descriptor) == 0, close(descriptor) == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw TLSError(.generation, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
