public import DispatchModel
public import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A client of one dispatcher's management API, for the admin command line and tests.
///
/// Sends the token as `Authorization: Bearer <token>`. Failures are ``ManagementError``s: the HTTP status
/// maps to the code (401 ``ManagementError/Code-swift.struct/unauthorized``, 403
/// ``ManagementError/Code-swift.struct/forbidden``, …) and the message is the server's error text; a server
/// that cannot be reached is ``ManagementError/Code-swift.struct/connectionFailed``.
public struct ManagementClient: Sendable {
    /// The dispatcher's base URL, such as `http://127.0.0.1:9006/`.
    public let baseURL: URL
    private let token: String
    private let timeout: TimeInterval

    public init(baseURL: URL, token: String, timeout: TimeInterval = 30) {
        self.baseURL = baseURL
        self.token = token
        self.timeout = timeout
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
        var request = URLRequest(url: url, timeoutInterval: self.timeout)
        request.httpMethod = method
        if !self.token.isEmpty {
            request.setValue("Bearer \(self.token)", forHTTPHeaderField: "Authorization")
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw ManagementError(
                .connectionFailed,
                "Cannot connect to the dispatcher at \(self.baseURL)",
                cause: error
            )
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
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
        let reason = HTTPURLResponse.localizedString(forStatusCode: status)
        return text.isEmpty ? "\(status) \(reason)" : "\(status) \(text)"
    }
}
