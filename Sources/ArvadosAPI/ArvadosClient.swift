public import AsyncHTTPClient
public import DispatchModel

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A typed client of the Arvados API endpoints the dispatcher and its runners use.
///
/// The same client talks to a real Arvados controller and to DispatchCloud's embedded container API. It does
/// not retry: callers decide (the dispatcher backs off on 503s, as Arvados's does). The token goes in an
/// `Authorization: Bearer` header and never into a log line or an error message.
///
/// Requests go through a transport: by default AsyncHTTPClient's shared client (kept-alive connections, TLS
/// with the system's trust roots); a short-lived runner talking to an `http://` root uses
/// ``PlainHTTPTransport``. FoundationNetworking is not used: on Linux it loads libcurl and its dependencies,
/// which costs a short-lived runner process about 20 ms before its first request.
public struct ArvadosClient: Sendable {
    /// The API root, such as `https://zzzzz.example.com` or `http://127.0.0.1:9005`.
    public let baseURL: URL
    private let token: String
    private let transport: any ArvadosTransport
    private let timeout: TimeInterval

    /// - Parameters:
    ///   - baseURL: the API root; `/arvados/v1/…` paths are appended to it.
    ///   - token: the API token.
    ///   - timeout: seconds a request may take.
    ///   - http: the HTTP client; the process-wide shared one by default.
    public init(baseURL: URL, token: String, timeout: TimeInterval = 60, http: HTTPClient = .shared) {
        self.init(baseURL: baseURL, token: token, timeout: timeout, transport: AsyncHTTPClientTransport(http: http))
    }

    /// A client that sends its requests through `transport`.
    public init(baseURL: URL, token: String, timeout: TimeInterval = 60, transport: any ArvadosTransport) {
        self.baseURL = baseURL
        self.token = token
        self.timeout = timeout
        self.transport = transport
    }

    /// Builds a client from `ARVADOS_API_HOST` and `ARVADOS_API_TOKEN` as runners receive them.
    ///
    /// A host without a scheme means HTTPS, as in Arvados; DispatchCloud's embedded API passes an `http://` URL.
    ///
    /// - Parameter lightweight: send requests to an `http://` root over ``PlainHTTPTransport`` (for a
    ///   short-lived process that makes a few requests); `https://` roots always use AsyncHTTPClient, here
    ///   one that does not retry a failed connection (see ``runnerHTTPClient``).
    public init?(environment: [String: String], timeout: TimeInterval = 60, lightweight: Bool = false) {
        guard let host = environment["ARVADOS_API_HOST"], !host.isEmpty,
            let token = environment["ARVADOS_API_TOKEN"], !token.isEmpty
        else { return nil }
        let root = host.contains("://") ? host : "https://\(host)"
        guard let url = URL(string: root) else { return nil }
        if lightweight, let plain = PlainHTTPTransport(url: url) {
            self.init(baseURL: url, token: token, timeout: timeout, transport: plain)
        } else if lightweight {
            self.init(baseURL: url, token: token, timeout: timeout, http: Self.runnerHTTPClient)
        } else {
            self.init(baseURL: url, token: token, timeout: timeout)
        }
    }

    /// The HTTPS client of a runner: a connection that cannot be made (refused, TLS handshake failed) fails the
    /// request at once with that cause, where the shared client retries it until the request's deadline and a
    /// runner's caller waits that long for no reason. Process-wide and never shut down, like `.shared`.
    static let runnerHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    // MARK: - Containers

    /// Fetches one container; with `select`, only those attributes.
    public func container(_ uuid: ContainerUUID, select: [String]? = nil) async throws(ArvadosAPIError) -> Container {
        let query = select.map { [URLQueryItem(name: "select", value: Self.json($0))] } ?? []
        return try await self.call("GET", "arvados/v1/containers/\(uuid.rawValue)", query: query)
    }

    /// Lists containers matching `filters`.
    ///
    /// - Parameters:
    ///   - order: e.g. `["priority desc", "uuid"]`.
    ///   - select: the attributes to return; `nil` for all.
    ///   - count: `"exact"` (the default on the server) or `"none"` to skip `items_available`.
    public func containers(
        filters: [ArvadosFilter] = [],
        order: [String] = [],
        limit: Int? = nil,
        offset: Int? = nil,
        select: [String]? = nil,
        count: String? = nil
    ) async throws(ArvadosAPIError) -> ArvadosList<Container> {
        if let source = self.transport as? any ArvadosContainerSource,
            let list = try await source.containers(
                token: self.token,
                filters: filters,
                order: order,
                limit: limit,
                offset: offset,
                select: select,
                count: count
            )
        {
            return list
        }
        var query: [URLQueryItem] = []
        if !filters.isEmpty { query.append(URLQueryItem(name: "filters", value: Self.json(filters))) }
        if !order.isEmpty { query.append(URLQueryItem(name: "order", value: Self.json(order))) }
        if let limit { query.append(URLQueryItem(name: "limit", value: String(limit))) }
        if let offset { query.append(URLQueryItem(name: "offset", value: String(offset))) }
        if let select { query.append(URLQueryItem(name: "select", value: Self.json(select))) }
        if let count { query.append(URLQueryItem(name: "count", value: count)) }
        return try await self.call("GET", "arvados/v1/containers", query: query)
    }

    /// Creates a container (admin or submitter tokens on the embedded API).
    public func createContainer(_ attributes: [String: JSONValue]) async throws(ArvadosAPIError) -> Container {
        try await self.call("POST", "arvados/v1/containers", body: ["container": .object(attributes)])
    }

    /// Updates some of a container's attributes, for example `state`, `exit_code` or `runtime_status`.
    public func updateContainer(
        _ uuid: ContainerUUID,
        _ attributes: [String: JSONValue]
    ) async throws(ArvadosAPIError) -> Container {
        try await self.call("PUT", "arvados/v1/containers/\(uuid.rawValue)", body: ["container": .object(attributes)])
    }

    /// ``updateContainer(_:_:)`` without reading the record the API sends back (a runner only needs to know
    /// the change was accepted).
    public func setContainerAttributes(
        _ uuid: ContainerUUID,
        _ attributes: [String: JSONValue]
    ) async throws(ArvadosAPIError) {
        let _: Unread = try await self.call(
            "PUT",
            "arvados/v1/containers/\(uuid.rawValue)",
            body: ["container": .object(attributes)]
        )
    }

    /// Locks a Queued container for this token's dispatcher.
    public func lockContainer(_ uuid: ContainerUUID) async throws(ArvadosAPIError) -> Container {
        try await self.call("POST", "arvados/v1/containers/\(uuid.rawValue)/lock")
    }

    /// Returns a Locked container to the queue.
    ///
    /// With `requeueRunning`, a Running container too, as after a preemption (`requeue_running=true`, a
    /// DispatchCloud extension: only the embedded API honours it; Arvados, like the embedded API without it,
    /// refuses to unlock a Running container with 422).
    public func unlockContainer(
        _ uuid: ContainerUUID,
        requeueRunning: Bool = false
    ) async throws(ArvadosAPIError) -> Container {
        try await self.call(
            "POST",
            "arvados/v1/containers/\(uuid.rawValue)/unlock",
            query: requeueRunning ? [URLQueryItem(name: "requeue_running", value: "true")] : []
        )
    }

    // MARK: - Logs and authorizations

    /// Writes a log record, such as a batch of a container's stdout.
    @discardableResult
    public func createLog(_ log: ArvadosLog) async throws(ArvadosAPIError) -> ArvadosLog {
        try await self.call("POST", "arvados/v1/logs", body: ["log": Self.body(of: log)])
    }

    /// ``createLog(_:)`` without reading the record the API sends back.
    public func writeLog(_ log: ArvadosLog) async throws(ArvadosAPIError) {
        let _: Unread = try await self.call("POST", "arvados/v1/logs", body: ["log": Self.body(of: log)])
    }

    private static func body(of log: ArvadosLog) -> JSONValue {
        .object([
            "object_uuid": .string(log.objectUUID),
            "event_type": .string(log.eventType),
            "properties": .object(log.properties),
        ])
    }

    /// Lists log records, for example a container's output: `[["object_uuid", "=", uuid]]`.
    public func logs(
        filters: [ArvadosFilter],
        order: [String] = ["created_at asc", "id asc"],
        limit: Int? = nil,
        offset: Int? = nil
    ) async throws(ArvadosAPIError) -> ArvadosList<ArvadosLog> {
        var query = [
            URLQueryItem(name: "filters", value: Self.json(filters)),
            URLQueryItem(name: "order", value: Self.json(order)),
        ]
        if let limit { query.append(URLQueryItem(name: "limit", value: String(limit))) }
        if let offset { query.append(URLQueryItem(name: "offset", value: String(offset))) }
        return try await self.call("GET", "arvados/v1/logs", query: query)
    }

    /// The record of the token in use; the dispatcher's UUID for locks.
    public func currentAuthorization() async throws(ArvadosAPIError) -> ArvadosAuthorization {
        try await self.call("GET", "arvados/v1/api_client_authorizations/current")
    }

    // MARK: - Transport

    /// A response body that is not read.
    private struct Unread: Decodable {}

    private func call<Response: Decodable>(
        _ method: String,
        _ path: String,
        query: [URLQueryItem] = [],
        body: [String: JSONValue]? = nil
    ) async throws(ArvadosAPIError) -> Response {
        var components = URLComponents(
            url: self.baseURL.appendingPathComponent(path),
            resolvingAgainstBaseURL: false
        )
        if !query.isEmpty { components?.queryItems = query }
        guard let url = components?.url else {
            throw ArvadosAPIError(code: .badRequest, message: "cannot form a URL for \(path)")
        }
        var request = ArvadosHTTPRequest(
            method: method,
            url: url,
            headers: [("Authorization", "Bearer \(self.token)"), ("Accept", "application/json")],
            body: nil,
            timeout: .milliseconds(Int64((self.timeout * 1000).rounded()))
        )
        if let body {
            request.headers.append(("Content-Type", "application/json"))
            request.body = JSONValue.object(body).jsonBytes
        }
        let response: ArvadosHTTPResponse
        if Response.self == Container.self, let source = self.transport as? any ArvadosContainerSource {
            // An API in this process hands the record over as it is, without JSON in between.
            switch try await source.answerWithContainer(request) {
            case .container(let container as Response): return container
            case .container: throw ArvadosAPIError(code: .decoding, message: "\(method) \(url.path): not a container")
            case .response(let answer): response = answer
            }
        } else {
            response = try await self.transport.send(request)
        }
        guard (200..<300).contains(response.status) else {
            throw ArvadosAPIError(
                code: .forStatus(response.status),
                status: response.status,
                message: Self.errorMessage(Data(response.body)) ?? "\(method) \(url.path) returned \(response.status)"
            )
        }
        if Response.self == Unread.self, let unread = Unread() as? Response { return unread }
        do {
            return try JSONDecoder().decode(Response.self, from: Data(response.body))
        } catch {
            throw ArvadosAPIError(code: .decoding, status: response.status, message: "\(method) \(url.path): \(error)")
        }
    }

    /// The largest response body read (a page of containers is a few megabytes at most).
    static let maximumResponseBytes = 256 << 20

    /// The message of an Arvados error body `{"errors": ["…"]}`.
    static func errorMessage(_ data: Data) -> String? {
        struct Body: Decodable { var errors: [String] }
        guard let body = try? JSONDecoder().decode(Body.self, from: data), !body.errors.isEmpty else { return nil }
        return body.errors.joined(separator: "; ")
    }

    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "[]"
    }
}
