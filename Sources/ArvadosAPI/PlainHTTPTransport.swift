import Dispatch
import DispatchModel
import Synchronization

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Requests over one kept-alive HTTP/1.1 connection on a plain socket, for `http://` API roots.
///
/// Made for dispatch-runner's supervisor: a process that lives for one container and makes a handful of
/// requests, usually to the embedded API on loopback. In such a fresh process AsyncHTTPClient's first requests
/// (event loop threads, connection pool, channel pipeline, and the runtime's first look-ups of the many types
/// involved) cost about 8 ms of CPU per container, more than the rest of the runner; this costs a connect and
/// a few system calls. There is no TLS here: `https://` roots go through ``AsyncHTTPClientTransport``.
///
/// Requests run one at a time on a private dispatch queue (blocking system calls never occupy the
/// cooperative pool), each within its timeout. A kept-alive connection the server has closed is noticed
/// before use; a request that fails on a reused connection before any answer arrived is sent once more on a
/// new one when that is safe (it was not fully written, or its method is idempotent).
public final class PlainHTTPTransport: ArvadosTransport {
    private let host: String
    private let port: Int
    private let queue = DispatchQueue(label: "dispatchcloud.plain-http-transport")
    /// The kept-alive socket, or -1; only used on `queue` (the lock makes that checkable).
    private let socket = Mutex<Int32>(-1)

    /// `nil` unless `url` is an `http://` URL with a host.
    public init?(url: URL) {
        guard url.scheme?.lowercased() == "http", var host = url.host, !host.isEmpty else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host
        self.port = url.port ?? 80
    }

    deinit {
        let fd = self.socket.withLock { $0 }
        if fd >= 0 { close(fd) }
    }

    public func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
        let result: Result<ArvadosHTTPResponse, ArvadosAPIError> = await withCheckedContinuation { continuation in
            self.queue.async { continuation.resume(returning: self.perform(request)) }
        }
        return try result.get()
    }

    // MARK: - One request

    private func perform(_ request: ArvadosHTTPRequest) -> Result<ArvadosHTTPResponse, ArvadosAPIError> {
        let deadline = ContinuousClock.now.advanced(by: request.timeout)
        let message = self.serialize(request)
        let idempotent = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(request.method)
        var attempt = 0
        while true {
            attempt += 1
            var fd = self.socket.withLock { $0 }
            if fd >= 0, Self.peerClosed(fd) {
                close(fd)
                fd = -1
            }
            let reused = fd >= 0
            if !reused {
                switch Self.connect(host: self.host, port: self.port, deadline: deadline) {
                case .success(let connected): fd = connected
                case .failure(let failure):
                    return .failure(ArvadosAPIError(code: .transport, message: "\(request.summary): \(failure.text)"))
                }
            }
            self.socket.withLock { $0 = fd }
            var connection = Connection(fd: fd, deadline: deadline)
            switch connection.exchange(message, method: request.method) {
            case .success(let (response, keepAlive)):
                if !keepAlive { self.drop(fd) }
                return .success(response)
            case .failure(let failure):
                self.drop(fd)
                let unanswered = !failure.written || (failure.noResponse && idempotent)
                if reused && unanswered && attempt == 1 && !failure.timedOut { continue }
                return .failure(ArvadosAPIError(code: .transport, message: "\(request.summary): \(failure.text)"))
            }
        }
    }

    private func drop(_ fd: Int32) {
        close(fd)
        self.socket.withLock { if $0 == fd { $0 = -1 } }
    }

    /// The request line, headers and body.
    private func serialize(_ request: ArvadosHTTPRequest) -> [UInt8] {
        let components = URLComponents(url: request.url, resolvingAgainstBaseURL: false)
        var target = components?.percentEncodedPath ?? "/"
        if target.isEmpty { target = "/" }
        if let query = components?.percentEncodedQuery, !query.isEmpty { target += "?" + query }
        let hostHeader = (self.host.contains(":") ? "[\(self.host)]" : self.host) + ":\(self.port)"
        var head = "\(request.method) \(target) HTTP/1.1\r\nHost: \(hostHeader)\r\n"
        for header in request.headers { head += "\(header.name): \(header.value)\r\n" }
        if let body = request.body {
            head += "Content-Length: \(body.count)\r\n"
        } else if request.method == "POST" || request.method == "PUT" {
            head += "Content-Length: 0\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + (request.body ?? [])
    }

    // MARK: - Sockets

    struct Failure: Error {
        var text: String
        /// The whole request went out.
        var written = true
        /// Not one byte of a response came back.
        var noResponse = true
        var timedOut = false
    }

    /// Whether a kept-alive connection was closed (or sent something unasked) while idle.
    static func peerClosed(_ fd: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 0) != 0 else { return false }
        return true
    }

    /// Connects to the first address of `host` that answers, non-blocking from then on.
    static func connect(host: String, port: Int, deadline: ContinuousClock.Instant) -> Result<Int32, Failure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            return .failure(Failure(text: "cannot resolve \(host): \(String(cString: gai_strerror(status)))"))
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address for \(host)"
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            cursor = entry.pointee.ai_next
            let fd = Glibc.socket(
                entry.pointee.ai_family,
                Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                0
            )
            guard fd >= 0 else {
                lastError = Self.errnoText()
                continue
            }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.connect(fd, entry.pointee.ai_addr, entry.pointee.ai_addrlen) == 0 { return .success(fd) }
            guard errno == EINPROGRESS else {
                lastError = "cannot connect to \(host):\(port): \(Self.errnoText())"
                close(fd)
                continue
            }
            switch Self.wait(fd, for: Int16(POLLOUT), until: deadline) {
            case .failure(let failure):
                close(fd)
                return .failure(Failure(text: "cannot connect to \(host):\(port): \(failure.text)", timedOut: true))
            case .success:
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                if error == 0 { return .success(fd) }
                lastError = "cannot connect to \(host):\(port): \(String(cString: strerror(error)))"
                close(fd)
            }
        }
        return .failure(Failure(text: lastError))
    }

    /// Waits until `fd` is ready for `events` or the deadline passes.
    static func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant) -> Result<Void, Failure> {
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return .failure(Failure(text: "the request timed out", timedOut: true)) }
            let milliseconds = Int32(clamping: max(1, remaining.nanoseconds / 1_000_000))
            var poller = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&poller, 1, milliseconds)
            if ready > 0 { return .success(()) }
            if ready < 0 && errno != EINTR { return .failure(Failure(text: Self.errnoText())) }
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    // MARK: - Exchange

    /// One connection's request and response: writes, then reads and parses the answer.
    struct Connection {
        let fd: Int32
        let deadline: ContinuousClock.Instant
        var buffer: [UInt8] = []
        var position = 0
        var received = 0
        var closed = false

        init(fd: Int32, deadline: ContinuousClock.Instant) {
            self.fd = fd
            self.deadline = deadline
        }

        mutating func exchange(
            _ message: [UInt8],
            method: String
        ) -> Result<(ArvadosHTTPResponse, keepAlive: Bool), Failure> {
            if case .failure(var failure) = self.write(message) {
                failure.written = false
                return .failure(failure)
            }
            do throws(Failure) {
                var head = try self.readHead()
                while (100..<200).contains(head.status) { head = try self.readHead() }
                let body: [UInt8]
                var keepAlive = head.version == "HTTP/1.1" && head.headers["connection"]?.lowercased() != "close"
                if method == "HEAD" || head.status == 204 || head.status == 304 {
                    body = []
                } else if head.headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
                    body = try self.readChunked()
                } else if let text = head.headers["content-length"] {
                    guard let length = Int(text), length >= 0, length <= ArvadosClient.maximumResponseBytes else {
                        throw Failure(text: "bad Content-Length \(text)", noResponse: false)
                    }
                    body = try self.readExactly(length)
                } else {
                    body = try self.readToEnd()
                    keepAlive = false
                }
                return .success((ArvadosHTTPResponse(status: head.status, body: body), keepAlive))
            } catch {
                var failure = error
                failure.noResponse = self.received == 0
                return .failure(failure)
            }
        }

        private func write(_ message: [UInt8]) -> Result<Void, Failure> {
            var offset = 0
            while offset < message.count {
                let sent = message[offset...].withUnsafeBytes {
                    Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                if sent > 0 {
                    offset += sent
                } else if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    if case .failure(let failure) = PlainHTTPTransport.wait(
                        self.fd,
                        for: Int16(POLLOUT),
                        until: self.deadline
                    ) {
                        return .failure(failure)
                    }
                } else if sent < 0 && errno == EINTR {
                    continue
                } else {
                    return .failure(Failure(text: "cannot send the request: \(PlainHTTPTransport.errnoText())"))
                }
            }
            return .success(())
        }

        /// Reads more bytes into the buffer; `false` at end of stream.
        private mutating func fill() throws(Failure) -> Bool {
            if self.position > 65536 {
                self.buffer.removeFirst(self.position)
                self.position = 0
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    self.buffer += chunk[0..<count]
                    self.received += count
                    return true
                }
                if count == 0 {
                    self.closed = true
                    return false
                }
                if errno == EINTR { continue }
                guard errno == EAGAIN || errno == EWOULDBLOCK else {
                    throw Failure(text: "cannot read the response: \(PlainHTTPTransport.errnoText())")
                }
                if case .failure(let failure) = PlainHTTPTransport.wait(
                    self.fd,
                    for: Int16(POLLIN),
                    until: self.deadline
                ) {
                    throw failure
                }
            }
        }

        /// The next line without its CRLF.
        private mutating func readLine() throws(Failure) -> String {
            while true {
                if let end = self.buffer[self.position...].firstIndex(of: UInt8(ascii: "\n")) {
                    var line = self.buffer[self.position..<end]
                    if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                    self.position = end + 1
                    return String(decoding: line, as: UTF8.self)
                }
                guard self.buffer.count - self.position < 64 * 1024 else {
                    throw Failure(text: "a response line is too long")
                }
                guard try self.fill() else { throw Failure(text: "the server closed the connection") }
            }
        }

        private mutating func readHead() throws(Failure) -> (version: String, status: Int, headers: [String: String]) {
            let statusLine = try self.readLine()
            let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
                throw Failure(text: "not an HTTP response: \(statusLine.prefix(80))")
            }
            var headers: [String: String] = [:]
            while true {
                let line = try self.readLine()
                if line.isEmpty { break }
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingHTTPWhitespace()
                headers[name] = headers[name].map { "\($0), \(value)" } ?? value
            }
            return (String(parts[0]), status, headers)
        }

        private mutating func readExactly(_ count: Int) throws(Failure) -> [UInt8] {
            while self.buffer.count - self.position < count {
                guard try self.fill() else { throw Failure(text: "the server closed the connection mid-response") }
            }
            let body = Array(self.buffer[self.position..<(self.position + count)])
            self.position += count
            return body
        }

        private mutating func readChunked() throws(Failure) -> [UInt8] {
            var body: [UInt8] = []
            while true {
                let line = try self.readLine()
                let sizeText = line.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmingHTTPWhitespace(), radix: 16), size >= 0 else {
                    throw Failure(text: "bad chunk size \(line.prefix(20))")
                }
                if size == 0 {
                    // Trailers, up to an empty line.
                    while !(try self.readLine()).isEmpty {}
                    return body
                }
                guard body.count + size <= ArvadosClient.maximumResponseBytes else {
                    throw Failure(text: "the response is too large")
                }
                body += try self.readExactly(size)
                _ = try self.readLine()
            }
        }

        private mutating func readToEnd() throws(Failure) -> [UInt8] {
            while try self.fill() {
                guard self.buffer.count - self.position <= ArvadosClient.maximumResponseBytes else {
                    throw Failure(text: "the response is too large")
                }
            }
            let body = Array(self.buffer[self.position...])
            self.position = self.buffer.count
            return body
        }
    }
}
