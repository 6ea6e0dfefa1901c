// A client polling the API from its own thread, over one kept-alive HTTP/1.1 connection on a blocking socket:
// its latencies are the API's (request sent until the whole response is read), not the benchmark's own busy
// task pool's or its JSON decoding's.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Polls `GET /arvados/v1/containers/{uuid}` and a list of 100 Queued containers, each `perSecond` times a second,
/// on a dedicated thread until stopped.
final class PollingClient: @unchecked Sendable {
    // `getMilliseconds`, `listMilliseconds`, `failures`, `stopped` and `uuids` are guarded by `lock`: that is what
    // makes this class Sendable; the socket is used by the polling thread alone.
    private let lock = NSLock()
    private var getMilliseconds: [Double] = []
    private var listMilliseconds: [Double] = []
    private var failures = 0
    private var stopped = false
    private var uuids: [String] = []
    private var finished = false
    private let port: Int
    private let token: String
    private let interval: Double
    private var socket: Int32 = -1

    init(port: Int, token: String, perSecond: Double = 5) {
        self.port = port
        self.token = token
        self.interval = 1 / perSecond
    }

    /// Starts polling; until a container UUID is known, only the list is polled.
    func start() {
        let thread = Thread { [self] in self.loop() }
        thread.name = "polling-client"
        thread.start()
    }

    /// A container the client may GET.
    func add(_ uuid: String) {
        self.lock.withLock { self.uuids.append(uuid) }
    }

    /// Stops polling and waits for the thread to end; returns the GET and list latencies (ms) and the failures.
    func stop() -> (get: [Double], list: [Double], failures: Int) {
        self.lock.withLock { self.stopped = true }
        while !self.lock.withLock({ self.finished }) { usleep(10_000) }
        return self.lock.withLock { (self.getMilliseconds, self.listMilliseconds, self.failures) }
    }

    private func loop() {
        let list =
            "/arvados/v1/containers?filters=%5B%5B%22state%22%2C%22%3D%22%2C%22Queued%22%5D%5D"
            + "&order=%5B%22priority%20desc%22%2C%22created_at%22%5D&limit=100"
        while !self.lock.withLock({ self.stopped }) {
            let next = Date().addingTimeInterval(self.interval)
            if let uuid = self.lock.withLock({ self.uuids.randomElement() }) {
                self.record(path: "/arvados/v1/containers/\(uuid)", isList: false)
            }
            self.record(path: list, isList: true)
            let wait = next.timeIntervalSinceNow
            if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
        }
        if self.socket >= 0 { close(self.socket) }
        self.lock.withLock { self.finished = true }
    }

    private func record(path: String, isList: Bool) {
        let start = DispatchTime.now().uptimeNanoseconds
        let ok = self.exchange(path) == 200
        let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        self.lock.withLock {
            if !ok {
                self.failures += 1
            } else if isList {
                self.listMilliseconds.append(milliseconds)
            } else {
                self.getMilliseconds.append(milliseconds)
            }
        }
    }

    /// One request on the kept-alive connection (reconnecting once if it was closed); the status, or nil.
    private func exchange(_ path: String) -> Int? {
        let head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(self.token)\r\n\r\n"
        for _ in 0..<2 {
            if self.socket < 0 { self.socket = Self.connect(port: self.port) }
            guard self.socket >= 0 else { return nil }
            if let status = Self.send(head, on: self.socket) { return status }
            close(self.socket)
            self.socket = -1
        }
        return nil
    }

    private static func connect(port: Int) -> Int32 {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            return -1
        }
        return fd
    }

    /// Sends `head` and reads one response with a `Content-Length` body; its status, or nil if the connection
    /// failed.
    private static func send(_ head: String, on fd: Int32) -> Int? {
        let bytes = Array(head.utf8)
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else { return nil }
            offset += count
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        var bodyStart: Int?
        var status = 0
        var length = 0
        while true {
            if bodyStart == nil, let end = Self.headEnd(received) {
                let lines = String(decoding: received[..<end], as: UTF8.self).components(separatedBy: "\r\n")
                let words = lines.first?.split(separator: " ") ?? []
                guard words.count >= 2, let code = Int(words[1]) else { return nil }
                status = code
                for line in lines.dropFirst() {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    if parts.count == 2, parts[0].lowercased() == "content-length" {
                        length = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
                    }
                }
                bodyStart = end + 4
            }
            if let bodyStart, received.count - bodyStart >= length { return status }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            received.append(contentsOf: buffer[..<count])
        }
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}
