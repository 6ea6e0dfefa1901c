import ArvadosAPI
import DispatchModel
import DispatchTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The runner's plain HTTP/1.1 transport: against the real embedded API, and against a scripted server for
/// the framings and connection endings a real one may choose.
@Suite("Plain HTTP transport")
struct PlainHTTPTransportTests {
    @Test("The typed client works over the plain transport against the embedded API, errors included")
    func embeddedAPI() async throws {
        try await EmbeddedContainerAPI.with { api in
            let url = api.rootClient.baseURL
            let transport = try #require(PlainHTTPTransport(url: url))
            let client = ArvadosClient(
                baseURL: url,
                token: api.runnerEnvironment["ARVADOS_API_TOKEN"] ?? "",
                transport: transport
            )
            let created = try await api.createContainer(command: ["echo", "a b/c \"quoted\""])
            _ = try await client.lockContainer(created.uuid)
            try await client.setContainerAttributes(created.uuid, ["state": .string("Running")])
            let fetched = try await client.container(created.uuid)
            #expect(fetched.state == .running)
            #expect(fetched.command == ["echo", "a b/c \"quoted\""])
            // A query with JSON in it (brackets, quotes, spaces) reaches the server intact.
            let listed = try await client.containers(
                filters: [ArvadosFilter("uuid", "in", .array([.string(created.uuid.rawValue), .string("a b\"c")]))],
                order: ["created_at desc"],
                select: ["uuid", "state"]
            )
            #expect(listed.items.map(\.uuid) == [created.uuid])
            try await client.writeLog(
                ArvadosLog(
                    objectUUID: created.uuid.rawValue,
                    eventType: "stdout",
                    properties: ["text": .string("hi\n")]
                )
            )
            let logs = try await api.rootClient.logs(filters: [
                ArvadosFilter("object_uuid", "=", .string(created.uuid.rawValue))
            ])
            #expect(logs.items.compactMap(\.text) == ["hi\n"])
            // API errors keep their status and message.
            await #expect {
                try await client.setContainerAttributes(created.uuid, ["state": .string("Queued")])
            } throws: { error in
                (error as? ArvadosAPIError)?.code == .unprocessable
            }
            await #expect {
                _ = try await client.container(ContainerUUID(rawValue: "zzzzz-dz642-000000000000000"))
            } throws: { error in
                (error as? ArvadosAPIError)?.code == .notFound
            }
        }
    }

    @Test("Requests share one kept-alive connection")
    func keepAlive() async throws {
        let server = try ScriptedServer { _ in .init(body: "{}") }
        defer { server.stop() }
        let transport = try #require(PlainHTTPTransport(url: server.url))
        for _ in 0..<5 {
            let response = try await transport.send(Self.request(server.url))
            #expect(response.status == 200)
            #expect(response.body == Array("{}".utf8))
        }
        #expect(server.connections == 1)
        #expect(server.requests.count == 5)
        #expect(server.requests.first?.hasPrefix("GET /arvados/v1/containers?limit=1 HTTP/1.1\r\n") == true)
        #expect(server.requests.first?.contains("\r\nHost: 127.0.0.1:\(server.port)\r\n") == true)
    }

    @Test("Chunked bodies, bodies that end with the connection, and Connection: close are all read")
    func framings() async throws {
        let responses = Mutex<[ScriptedServer.Response]>([
            .init(
                raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\n\r\n"
            ),
            .init(raw: "HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 2\r\n\r\n[]", close: true),
            .init(raw: "HTTP/1.0 200 OK\r\n\r\nuntil the end", close: true),
            .init(body: "done"),
        ])
        let server = try ScriptedServer { _ in responses.withLock { $0.removeFirst() } }
        defer { server.stop() }
        let transport = try #require(PlainHTTPTransport(url: server.url))
        let first = try await transport.send(Self.request(server.url))
        #expect(String(decoding: first.body, as: UTF8.self) == "{\"a\":1}")
        let second = try await transport.send(Self.request(server.url, method: "POST", body: Array("{}".utf8)))
        #expect(second.status == 201)
        #expect(second.body == Array("[]".utf8))
        #expect(server.requests.last?.contains("\r\nContent-Length: 2\r\n\r\n{}") == true)
        let third = try await transport.send(Self.request(server.url))
        #expect(String(decoding: third.body, as: UTF8.self) == "until the end")
        let fourth = try await transport.send(Self.request(server.url))
        #expect(String(decoding: fourth.body, as: UTF8.self) == "done")
        #expect(server.connections == 3)
    }

    @Test("A kept-alive connection the server dropped while idle is replaced, not reported")
    func idleClose() async throws {
        let server = try ScriptedServer { _ in .init(body: "ok") }
        defer { server.stop() }
        let transport = try #require(PlainHTTPTransport(url: server.url))
        _ = try await transport.send(Self.request(server.url))
        server.closeIdleConnections()
        let response = try await transport.send(Self.request(server.url))
        #expect(response.body == Array("ok".utf8))
        #expect(server.connections == 2)
        #expect(server.requests.count == 2)
    }

    @Test("No answer within the timeout and a refused connection are transport errors")
    func failures() async throws {
        let server = try ScriptedServer { _ in nil }
        defer { server.stop() }
        let transport = try #require(PlainHTTPTransport(url: server.url))
        var request = Self.request(server.url)
        request.timeout = .milliseconds(200)
        await #expect {
            _ = try await transport.send(request)
        } throws: { error in
            let error = error as? ArvadosAPIError
            return error?.code == .transport && error?.message.contains("timed out") == true
        }
        // Nothing listens on port 1.
        let closedPort = URL(string: "http://127.0.0.1:1")!
        let refused = try #require(PlainHTTPTransport(url: closedPort))
        await #expect {
            _ = try await refused.send(Self.request(closedPort))
        } throws: { error in
            let error = error as? ArvadosAPIError
            return error?.code == .transport && error?.message.contains("GET /arvados/v1/containers") == true
        }
        #expect(PlainHTTPTransport(url: URL(string: "https://127.0.0.1:1")!) == nil)
    }

    static func request(_ base: URL, method: String = "GET", body: [UInt8]? = nil) -> ArvadosHTTPRequest {
        ArvadosHTTPRequest(
            method: method,
            url: URL(string: "\(base.absoluteString)/arvados/v1/containers?limit=1")!,
            headers: [("Accept", "application/json")],
            body: body,
            timeout: .seconds(10)
        )
    }
}

/// A one-thread HTTP server on 127.0.0.1 that answers each request with what its script says (`nil`: never).
final class ScriptedServer: Sendable {
    struct Response: Sendable {
        var bytes: [UInt8]
        var close = false

        init(raw: String, close: Bool = false) {
            self.bytes = Array(raw.utf8)
            self.close = close
        }

        init(body: String) {
            self.init(raw: "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        }
    }

    let port: Int
    private let listener: Int32
    private let state = Mutex<(connections: Int, requests: [String], open: [Int32], stopped: Bool)>((0, [], [], false))
    private let script: @Sendable (String) -> Response?

    var url: URL { URL(string: "http://127.0.0.1:\(self.port)")! }
    var connections: Int { self.state.withLock { $0.connections } }
    var requests: [String] { self.state.withLock { $0.requests } }

    init(script: @escaping @Sendable (String) -> Response?) throws {
        self.script = script
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.listener = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in self.acceptLoop() }.start()
    }

    /// Stops accepting and ends every open connection. Descriptors are shut down under the lock their
    /// serving threads close them under, so a number another test has reused is never touched.
    func stop() {
        self.state.withLock { state in
            guard !state.stopped else { return }
            state.stopped = true
            shutdown(self.listener, Int32(SHUT_RDWR))
            for fd in state.open { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Closes every connection between requests, as a server's idle timeout does.
    func closeIdleConnections() {
        self.state.withLock { state in
            for fd in state.open { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    private func acceptLoop() {
        while true {
            let client = accept(self.listener, nil, nil)
            guard client >= 0 else { break }
            let stopped = self.state.withLock { state in
                state.connections += 1
                state.open.append(client)
                return state.stopped
            }
            if stopped {
                self.state.withLock { state in
                    state.open.removeAll { $0 == client }
                    close(client)
                }
                break
            }
            Thread { [self] in self.serve(client) }.start()
        }
        self.state.withLock { state in
            state.stopped = true
            close(self.listener)
        }
    }

    private func serve(_ fd: Int32) {
        defer {
            self.state.withLock { state in
                state.open.removeAll { $0 == fd }
                close(fd)
            }
        }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            // One request: the head, then a Content-Length body.
            var request: [UInt8]?
            while request == nil {
                if let end = Self.find(Array("\r\n\r\n".utf8), in: buffer) {
                    let head = String(decoding: buffer[..<end], as: UTF8.self)
                    let length =
                        head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                    if buffer.count >= end + 4 + length {
                        request = Array(buffer[..<(end + 4 + length)])
                        buffer.removeFirst(end + 4 + length)
                        break
                    }
                }
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { return }
                buffer += chunk[0..<count]
            }
            let text = String(decoding: request ?? [], as: UTF8.self)
            self.state.withLock { $0.requests.append(text) }
            guard let response = self.script(text) else {
                // Never answer; wait for the client to go away.
                while recv(fd, &chunk, chunk.count, 0) > 0 {}
                return
            }
            _ = response.bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if response.close { return }
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count)
        where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
