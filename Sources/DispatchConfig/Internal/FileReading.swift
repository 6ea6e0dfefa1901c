#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that could not be read, with the operating system's reason.
struct FileReadError: Error, Sendable {
    var reason: String
}

/// The largest configuration file read: 16 MiB.
let maxConfigurationFileBytes = 16 << 20

/// The largest file a `file://` value (a key, a certificate, a token) may name: 1 MiB.
let maxReferencedFileBytes = 1 << 20

/// Reads a UTF-8 text file of at most `limit` bytes.
///
/// Only regular files are read: a FIFO, a device such as `/dev/zero` or a directory is refused before any
/// byte is read (the file is opened non-blocking, so a FIFO without a writer cannot stall the load), and a
/// file that grows past `limit` while being read is refused too.
func readTextFile(atPath path: String, limit: Int) throws(FileReadError) -> String {
    let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
    guard descriptor >= 0 else { throw FileReadError(reason: String(cString: strerror(errno))) }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw FileReadError(reason: String(cString: strerror(errno))) }
    guard (status.st_mode & S_IFMT) == S_IFREG else {
        throw FileReadError(reason: "not a regular file")
    }
    guard status.st_size <= limit else {
        throw FileReadError(reason: "larger than the limit of \(limit) bytes")
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(Int(status.st_size))
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw FileReadError(reason: String(cString: strerror(errno)))
        }
        if count == 0 { break }
        guard bytes.count + count <= limit else {
            throw FileReadError(reason: "larger than the limit of \(limit) bytes")
        }
        bytes.append(contentsOf: buffer[0..<count])
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw FileReadError(reason: "not UTF-8 text")
    }
    return text
}
