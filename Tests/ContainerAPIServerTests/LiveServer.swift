import AsyncHTTPClient
import ContainerAPIServer
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Tokens the test servers accept.
enum TestTokens {
    static let root = "root-token-for-tests"
    static let alice = "alice-submitter-token"
    static let bob = "bob-submitter-token"
}

/// A response from the server under test.
struct APIResponse: Sendable {
    var status: Int
    var json: JSONValue

    /// The member `name` of a JSON object response.
    subscript(name: String) -> JSONValue? {
        if case .object(let members) = self.json { return members[name] }
        return nil
    }

    /// The `errors` of an Arvados error body.
    var errors: [String] {
        guard case .array(let items)? = self["errors"] else { return [] }
        return items.compactMap(\.stringValue)
    }
}

/// A container API server listening on 127.0.0.1 with a fresh data directory, and a client for it.
struct LiveServer: Sendable {
    let port: Int
    let dataDirectory: String
    /// The server's feed of committed container changes, when it runs in this process.
    var changes: ChangeFeed? = nil

    /// Starts a server, runs `body` against it, then stops the server and removes its data directory
    /// unless `keepData` is set.
    static func with<T: Sendable>(
        maxDispatchAttempts: Int = 10,
        maxRequestBodySize: Int = 1 << 20,
        dataDirectory: String? = nil,
        _ body: (LiveServer) async throws -> T
    ) async throws -> T {
        try await Self.withServer(
            maxDispatchAttempts: maxDispatchAttempts,
            maxRequestBodySize: maxRequestBodySize,
            dataDirectory: dataDirectory
        ) { live, _ in try await body(live) }
    }

    /// As ``with(maxDispatchAttempts:maxRequestBodySize:dataDirectory:_:)``, also giving `body` the server itself
    /// (its store, for tests that reach under the API).
    static func withServer<T: Sendable>(
        maxDispatchAttempts: Int = 10,
        maxRequestBodySize: Int = 1 << 20,
        dataDirectory: String? = nil,
        _ body: (LiveServer, ContainerAPIServer) async throws -> T
    ) async throws -> T {
        let directory = dataDirectory ?? Self.temporaryDirectory()
        var configuration = ContainerAPIServer.Configuration(
            clusterID: "zzzzz",
            dataDirectory: directory,
            systemRootToken: TestTokens.root
        )
        configuration.submitterTokens = [TestTokens.alice, TestTokens.bob]
        configuration.maxDispatchAttempts = maxDispatchAttempts
        configuration.maxRequestBodySize = maxRequestBodySize
        var logger = Logger(label: "container-api-test")
        logger.logLevel = .warning
        let server = try ContainerAPIServer(configuration: configuration, logger: logger)
        defer {
            if dataDirectory == nil {
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        return try await withRunningServices([server], logger: logger) {
            let port = try await server.listeningPort()
            return try await body(LiveServer(port: port, dataDirectory: directory, changes: server.changes), server)
        }
    }

    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("container-api-\(UUID().uuidString)").path
    }

    /// Sends a request; `json` becomes the body with `Content-Type: application/json`, `form` is sent form-encoded.
    func call(
        _ method: HTTPMethod,
        _ path: String,
        token: String? = TestTokens.root,
        json: JSONValue? = nil,
        form: [(String, String)]? = nil,
        headers: [(String, String)] = []
    ) async throws -> APIResponse {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(self.port)\(path)")
        request.method = method
        if let token {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        for (name, value) in headers {
            request.headers.add(name: name, value: value)
        }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: Array(try JSONEncoder().encode(json))))
        } else if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            let text = form.map { "\(Self.formEncode($0.0))=\(Self.formEncode($0.1))" }.joined(separator: "&")
            request.body = .bytes(ByteBuffer(string: text))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        let bytes = Data(body.readableBytesView)
        let value = bytes.isEmpty ? JSONValue.null : try JSONDecoder().decode(JSONValue.self, from: bytes)
        return APIResponse(status: Int(response.status.code), json: value)
    }

    /// A query string from parameters whose values are JSON-encoded, as Arvados clients send them.
    static func query(_ parameters: [String: JSONValue]) throws -> String {
        var parts: [String] = []
        for (name, value) in parameters.sorted(by: { $0.key < $1.key }) {
            let text: String
            if case .string(let plain) = value {
                text = plain
            } else {
                text = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
            }
            parts.append("\(Self.formEncode(name))=\(Self.formEncode(text))")
        }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    static func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// Creates a container as `token` and returns its JSON.
    func createContainer(
        token: String = TestTokens.root,
        priority: Int = 1,
        image: String = "arvados/jobs",
        extra: [String: JSONValue] = [:]
    ) async throws -> APIResponse {
        var attributes: [String: JSONValue] = [
            "command": .array([.string("echo"), .string("hello")]),
            "container_image": .string(image),
            "output_path": .string("/out"),
            "cwd": .string("/tmp"),
            "priority": .int(Int64(priority)),
            "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(1 << 30)]),
        ]
        for (key, value) in extra {
            attributes[key] = value
        }
        return try await self.call(
            .POST,
            "/arvados/v1/containers",
            token: token,
            json: .object(["container": .object(attributes)])
        )
    }
}

extension JSONValue {
    subscript(name: String) -> JSONValue? {
        if case .object(let members) = self { return members[name] }
        return nil
    }

    var items: [JSONValue] {
        if case .array(let items)? = self["items"] { return items }
        return []
    }

    var uuid: String { self["uuid"]?.stringValue ?? "" }
}
