public import ArvadosAPI
public import DispatchModel
public import Foundation
import HTTPServing
import NIOHTTP1

/// A client of one dispatcher's management API, for the admin command line and tests.
///
/// Sends the token as `Authorization: Bearer <token>`. Failures are ``ManagementError``s: the HTTP status
/// maps to the code (401 ``ManagementError/Code-swift.struct/unauthorized``, 403
/// ``ManagementError/Code-swift.struct/forbidden``, …) and the message is the server's error text; a server
/// that cannot be reached is ``ManagementError/Code-swift.struct/connectionFailed``, its cause the transport's
/// ``ArvadosAPIError`` (whose message says why in words). Requests go through AsyncHTTPClient, so https works
/// with the system's roots or, with ``init(baseURL:token:timeout:trustingCA:)``, a private CA.
public struct ManagementClient: Sendable {
    /// The dispatcher's base URL, such as `http://127.0.0.1:9006/`.
    public let baseURL: URL
    private let token: String
    private let timeout: TimeInterval
    private let transport: any ArvadosTransport

    public init(baseURL: URL, token: String, timeout: TimeInterval = 30) {
        self.init(baseURL: baseURL, token: token, timeout: timeout, transport: AsyncHTTPClientTransport())
    }

    /// A client that trusts exactly the CA certificates in `caPEM` for an https dispatcher.
    ///
    /// - Throws: ``ManagementError/Code-swift.struct/badRequest`` when `caPEM` holds no certificate.
    public init(
        baseURL: URL,
        token: String,
        timeout: TimeInterval = 30,
        trustingCA caPEM: String
    ) throws(ManagementError) {
        let transport: AsyncHTTPClientTransport
        do {
            transport = try AsyncHTTPClientTransport(trustingCA: caPEM)
        } catch {
            throw ManagementError(.badRequest, error.message, cause: error)
        }
        self.init(baseURL: baseURL, token: token, timeout: timeout, transport: transport)
    }

    /// A client over `transport` (tests and callers with their own HTTP setup).
    public init(baseURL: URL, token: String, timeout: TimeInterval = 30, transport: any ArvadosTransport) {
        self.baseURL = baseURL
        self.token = token
        self.timeout = timeout
        self.transport = transport
    }

    /// `GET /arvados/v1/dispatch/instances`.
    public func instances() async throws(ManagementError) -> [ManagedInstance] {
        try self.decode(ItemList<ManagedInstance>.self, try await self.call("GET", "arvados/v1/dispatch/instances"))
            .items ?? []
    }

    /// `GET /arvados/v1/dispatch/containers`.
    public func containers() async throws(ManagementError) -> [ManagedContainer] {
        try self.decode(ItemList<ManagedContainer>.self, try await self.call("GET", "arvados/v1/dispatch/containers"))
            .items ?? []
    }

    /// `POST /arvados/v1/dispatch/instances/{hold,drain,run}`.
    public func setIdleBehavior(_ id: InstanceID, _ behavior: IdleBehavior) async throws(ManagementError) {
        _ = try await self.call(
            "POST",
            "arvados/v1/dispatch/instances/\(behavior.rawValue)",
            [("instance_id", id.rawValue)]
        )
    }

    /// `POST /arvados/v1/dispatch/instances/kill`.
    public func killInstance(_ id: InstanceID, reason: String) async throws(ManagementError) {
        _ = try await self.call(
            "POST",
            "arvados/v1/dispatch/instances/kill",
            [("instance_id", id.rawValue), ("reason", reason)]
        )
    }

    /// `POST /arvados/v1/dispatch/containers/kill`.
    public func killContainer(_ uuid: ContainerUUID, reason: String) async throws(ManagementError) {
        _ = try await self.call(
            "POST",
            "arvados/v1/dispatch/containers/kill",
            [("container_uuid", uuid.rawValue), ("reason", reason)]
        )
    }

    /// `GET /arvados/v1/dispatch/explain`.
    public func explain(_ subject: Explanation.Subject) async throws(ManagementError) -> Explanation {
        let parameter =
            switch subject {
            case .container(let uuid): ("container_uuid", uuid.rawValue)
            case .instance(let id): ("instance_id", id.rawValue)
            }
        return try self.decode(Explanation.self, try await self.call("GET", "arvados/v1/dispatch/explain", [parameter]))
    }

    /// `GET /arvados/v1/dispatch/quarantine`.
    public func quarantined() async throws(ManagementError) -> [QuarantineEntry] {
        try self.decode(ItemList<QuarantineEntry>.self, try await self.call("GET", "arvados/v1/dispatch/quarantine"))
            .items ?? []
    }

    /// `POST /arvados/v1/dispatch/quarantine/lift`.
    public func liftQuarantine(_ type: InstanceTypeName) async throws(ManagementError) {
        _ = try await self.call("POST", "arvados/v1/dispatch/quarantine/lift", [("instance_type", type.rawValue)])
    }

    /// `GET /metrics`, as text.
    public func metrics() async throws(ManagementError) -> String {
        String(decoding: try await self.call("GET", "metrics"), as: UTF8.self)
    }

    private struct ItemList<Item: Decodable>: Decodable {
        var items: [Item]?
    }

    private struct ErrorBody: Decodable {
        var errors: [String]
    }

    private func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws(ManagementError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw ManagementError(
                .internalError,
                "The dispatcher at \(self.baseURL) sent a response that does not decode",
                cause: error
            )
        }
    }

    private func call(
        _ method: String,
        _ path: String,
        _ parameters: [(String, String)] = []
    ) async throws(ManagementError) -> Data {
        var components = URLComponents(url: self.baseURL.appendingPathComponent(path), resolvingAgainstBaseURL: false)
        if !parameters.isEmpty {
            components?.percentEncodedQuery = FormParameters.encode(parameters)
        }
        guard let url = components?.url else {
            throw ManagementError(.badRequest, "\(self.baseURL) is not a valid dispatcher URL")
        }
        var headers: [(name: String, value: String)] = []
        if !self.token.isEmpty { headers.append((name: "Authorization", value: "Bearer \(self.token)")) }
        let request = ArvadosHTTPRequest(
            method: method,
            url: url,
            headers: headers,
            body: nil,
            timeout: .milliseconds(Int64(max(0.001, min(self.timeout, 86_400)) * 1000))
        )
        let response: ArvadosHTTPResponse
        do {
            response = try await self.transport.send(request)
        } catch {
            throw ManagementError(
                .connectionFailed,
                "Cannot connect to the dispatcher at \(self.baseURL)",
                cause: error
            )
        }
        let data = Data(response.body)
        let status = response.status
        guard status == 200 else {
            throw ManagementError(Self.code(status: status), Self.message(status: status, body: data))
        }
        return data
    }

    private static func code(status: Int) -> ManagementError.Code {
        ManagementError.Code(httpStatus: status)
    }

    private static func message(status: Int, body: Data) -> String {
        if let errors = try? JSONDecoder().decode(ErrorBody.self, from: body).errors, !errors.isEmpty {
            return errors.joined(separator: "; ")
        }
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.isEmpty else { return "\(status) \(text)" }
        // NIO's phrase rather than FoundationNetworking's, which would link libcurl into every binary.
        let reason = HTTPResponseStatus(statusCode: status).reasonPhrase
        return reason.isEmpty ? "\(status)" : "\(status) \(reason)"
    }
}
