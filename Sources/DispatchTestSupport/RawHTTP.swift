import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A deliberately primitive HTTP/1.1 client on a blocking socket to 127.0.0.1, for requests no well-behaved
/// client sends: a head that promises a body it never sends, a body streamed after the answer came.
///
/// Each exchange runs on a Dispatch thread, never on the cooperative pool the server's handlers need.
public enum RawHTTP: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
        /// Body bytes sent before the server answered or closed the connection.
        public var bodyBytesSent: Int
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Sends `head` (which must end with a blank line) to 127.0.0.1:`port`, then `bodyBytes` bytes of body in
    /// 1 MiB chunks (stopping early if the server closes), and reads one response; every socket call gives up
    /// after `timeoutSeconds`.
    public static func exchange(
        port: Int,
        head: String,
        bodyBytes: Int = 0,
        timeoutSeconds: Int = 60
    ) async throws
        -> Response
    {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    with: Result {
                        try Self.blockingExchange(
                            port: port,
                            head: head,
                            bodyBytes: bodyBytes,
                            timeoutSeconds: timeoutSeconds
                        )
                    }
                )
            }
        }
    }

    /// As ``exchange(port:head:bodyBytes:timeoutSeconds:)``, on the calling thread: for a test that must not need
    /// Swift's cooperative pool while it waits (see ``CooperativePoolBlocker``).
    public static func blockingExchange(
        port: Int,
        head: String,
        bodyBytes: Int = 0,
        timeoutSeconds: Int = 60
    ) throws
        -> Response
    {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw Failure(description: "connect failed: errno \(errno)") }
        guard Self.sendAll(fd, Array(head.utf8)) else { throw Failure(description: "sending the head failed") }
        var sent = 0
        if bodyBytes > 0 {
            let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
            while sent < bodyBytes {
                let count = min(chunk.count, bodyBytes - sent)
                guard Self.sendAll(fd, Array(chunk[..<count])) else { break }
                sent += count
            }
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            if let response = Self.parse(received) {
                return Response(status: response.status, body: response.body, bodyBytesSent: sent)
            }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else {
                throw Failure(
                    description: "no complete response (recv \(count), errno \(errno)) after \(received.count) bytes"
                )
            }
            received.append(contentsOf: buffer[..<count])
        }
    }

    private static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else { return false }
            offset += count
        }
        return true
    }

    /// The status and body of a complete response with a `Content-Length`, or `nil` if more is needed.
    private static func parse(_ bytes: [UInt8]) -> (status: Int, body: [UInt8])? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard bytes.count >= separator.count,
            let end = (0...(bytes.count - separator.count)).first(where: {
                bytes[$0..<($0 + separator.count)].elementsEqual(separator)
            })
        else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let statusWords = lines.first?.split(separator: " ") ?? []
        guard statusWords.count >= 2, let status = Int(statusWords[1]) else { return nil }
        var length = 0
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                length = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        let bodyStart = end + separator.count
        guard bytes.count - bodyStart >= length else { return nil }
        return (status, Array(bytes[bodyStart..<(bodyStart + length)]))
    }

    /// The resident set size in bytes of process `pid` (this process by default), from `/proc/PID/status`;
    /// `field` `VmHWM` gives the peak instead.
    public static func residentBytes(pid: Int32? = nil, field: String = "VmRSS") -> Int {
        let path = "/proc/\(pid.map(String.init) ?? "self")/status"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("\(field):") {
            let number = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return number * 1024
        }
        return 0
    }
}
