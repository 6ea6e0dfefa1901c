import DispatchTestSupport
import Foundation
import Logging
import ManagementAPI
import ServiceLifecycle

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A management server on 127.0.0.1 (a free port) in front of a control, for the duration of a test.
struct ManagementFixture: Sendable {
    static let token = "management-token-for-tests"

    let port: Int
    let control: RecordingDispatcherControl

    var baseURL: URL { URL(string: "http://127.0.0.1:\(self.port)/")! }

    /// Starts a server, runs `body` against it, then shuts the server down.
    static func with<T: Sendable>(
        control: RecordingDispatcherControl = .sample(),
        token: String = Self.token,
        metrics: MetricsRegistry? = nil,
        _ body: (ManagementFixture) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "management-test")
        logger.logLevel = .warning
        let server = ManagementServer(
            host: "127.0.0.1",
            port: 0,
            control: control,
            token: token,
            metrics: metrics,
            logger: logger
        )
        return try await withRunningServices([server], logger: logger) {
            let port = try await server.listeningPort()
            return try await body(ManagementFixture(port: port, control: control))
        }
    }

    /// A client with the right token.
    var client: ManagementClient { ManagementClient(baseURL: self.baseURL, token: Self.token, timeout: 20) }

    /// One raw HTTP exchange.
    struct Exchange: Sendable {
        var status: Int
        var headers: [String: String]
        var body: Data

        var text: String { String(decoding: self.body, as: UTF8.self) }

        /// The body as a JSON object.
        var object: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: self.body)) as? [String: Any]
        }
    }

    /// Sends a request with the given headers and an optional form body.
    func request(
        _ method: String,
        _ pathAndQuery: String,
        headers: [String: String] = ["Authorization": "Bearer \(Self.token)"],
        form: String? = nil
    ) async throws -> Exchange {
        var request = URLRequest(url: URL(string: pathAndQuery, relativeTo: self.baseURL)!, timeoutInterval: 20)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let form {
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(form.utf8)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            headers[String(describing: name).lowercased()] = String(describing: value)
        }
        return Exchange(status: http.statusCode, headers: headers, body: data)
    }
}
