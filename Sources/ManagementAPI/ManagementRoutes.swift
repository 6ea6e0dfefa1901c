import DispatchModel
import Foundation
import HTTPServing
import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore

/// The management API's routes (reference §5.1–§5.2), `/metrics`, `/_health/ping` and the dashboard, as a
/// Hummingbird router the daemon serves on `Services.DispatchCloud.InternalURLs`.
///
/// Every route but the dashboard page needs the management token (see ``ManagementAuthMiddleware``):
///
/// | Route | Parameters | Answer |
/// |---|---|---|
/// | `GET /arvados/v1/dispatch/containers` | `limit`, `offset` (optional) | `{"items":[ManagedContainer…]}` in scheduling order |
/// | `GET /arvados/v1/dispatch/container` | `container_uuid` | one ``ManagedContainer``; 404 if unknown |
/// | `POST /arvados/v1/dispatch/containers/kill` | `container_uuid`, `reason` | empty 200; 400, 404 |
/// | `GET /arvados/v1/dispatch/instances` | `limit`, `offset` (optional) | `{"items":[ManagedInstance…]}` by instance ID, then type |
/// | `POST /arvados/v1/dispatch/instances/{hold,drain,run}` | `instance_id` | empty 200; 400, 404 |
/// | `POST /arvados/v1/dispatch/instances/kill` | `instance_id`, `reason` | empty 200; 400, 404 |
/// | `GET /metrics`, `GET /metrics.json` | — | Prometheus text exposition |
/// | `GET /_health/ping` | — | `{"health":"OK"}` or `{"health":"ERROR","error":"…"}` |
/// | `GET /` | — | the dashboard page (no token needed for the page itself) |
///
/// Parameters come from the query string or an `application/x-www-form-urlencoded` body. Errors are
/// `{"errors":["<message>"]}` with the status of the ``ManagementError``.
///
/// The two listings answer Arvados's shape, every item in `{"items":[…]}`, unless the request gives `limit` or
/// `offset` (ours, opt-in): then it gets that page of the same order with the total, as an Arvados list does:
/// `{"items":[…],"items_available":N,"offset":O,"limit":L}` (a missing `limit` means the rest of the list).
public enum ManagementRoutes: Sendable {
    /// The longest request body read for form parameters.
    static let maximumBodySize = 64 * 1024

    /// Builds the router.
    ///
    /// - Parameters:
    ///   - control: the dispatcher behind the routes.
    ///   - token: `ManagementToken`; empty refuses every API request with 403, as Arvados does.
    ///   - metrics: the registry `/metrics` renders; `nil` serves an empty exposition.
    ///   - logger: where failed requests are logged.
    ///   - notice: a warning the dashboard shows at its top when it returns text (such as a certificate
    ///     about to expire).
    public static func router(
        control: some DispatcherControl,
        token: String,
        metrics: MetricsRegistry?,
        logger: Logger,
        notice: @escaping @Sendable () -> String? = { nil }
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in DashboardPage.response(notice: notice()) }
        let api = router.group()
            .add(middleware: ManagementAuthMiddleware(token: token))
            .add(middleware: ManagementErrorLog(logger: logger))

        api.get("/arvados/v1/dispatch/containers") { request, _ in
            let page = try Page(parameters: try await Self.parameters(of: request))
            return Self.list(await control.queue(), page: page)
        }
        api.get("/arvados/v1/dispatch/container") { request, _ in
            let uuid = try await Self.required("container_uuid", in: request)
            guard Self.isIdentifier(uuid), let entry = await control.container(ContainerUUID(rawValue: uuid)) else {
                throw ManagementError(.notFound, "container not found")
            }
            return Self.json(entry)
        }
        api.post("/arvados/v1/dispatch/containers/kill") { request, _ in
            let parameters = try await Self.parameters(of: request)
            let uuid = try Self.required("container_uuid", in: parameters)
            try await control.killContainer(
                ContainerUUID(rawValue: uuid),
                reason: "via management API: " + (parameters["reason"] ?? "")
            )
            return Self.empty()
        }
        api.get("/arvados/v1/dispatch/instances") { request, _ in
            let page = try Page(parameters: try await Self.parameters(of: request))
            return Self.list(await control.instances().sorted(by: ManagedInstance.listingOrder), page: page)
        }
        for behavior in IdleBehavior.allCases {
            api.post(RouterPath("/arvados/v1/dispatch/instances/\(behavior.rawValue)")) { request, _ in
                let id = try await Self.required("instance_id", in: request)
                try await control.setIdleBehavior(InstanceID(rawValue: id), behavior)
                return Self.empty()
            }
        }
        api.post("/arvados/v1/dispatch/instances/kill") { request, _ in
            let parameters = try await Self.parameters(of: request)
            let id = try Self.required("instance_id", in: parameters)
            try await control.killInstance(
                InstanceID(rawValue: id),
                reason: "via management API: " + (parameters["reason"] ?? "")
            )
            return Self.empty()
        }
        api.get("/arvados/v1/dispatch/explain") { request, _ in
            let parameters = try await Self.parameters(of: request)
            let uuid = parameters["container_uuid"].flatMap { $0.isEmpty ? nil : $0 }
            let id = parameters["instance_id"].flatMap { $0.isEmpty ? nil : $0 }
            let subject: Explanation.Subject
            switch (uuid, id) {
            case (let uuid?, nil):
                guard Self.isIdentifier(uuid) else {
                    throw ManagementError(.badRequest, "container_uuid: not a container UUID")
                }
                subject = .container(ContainerUUID(rawValue: uuid))
            case (nil, let id?):
                guard Self.isIdentifier(id) else {
                    throw ManagementError(.badRequest, "instance_id: not an instance ID")
                }
                subject = .instance(InstanceID(rawValue: id))
            case (nil, nil):
                throw ManagementError(.badRequest, "container_uuid or instance_id parameter not provided")
            case (_?, _?):
                throw ManagementError(.badRequest, "give container_uuid or instance_id, not both")
            }
            return Self.json(try await control.explain(subject))
        }
        api.get("/arvados/v1/dispatch/costs") { _, _ in
            guard let costs = await control.costs() else {
                return Self.json(ErrorBody(errors: ["this dispatcher keeps no cost records"]), status: .notFound)
            }
            return Self.json(costs)
        }
        api.get("/arvados/v1/dispatch/quarantine") { _, _ in
            Self.json(ItemList(items: await control.quarantined()))
        }
        api.post("/arvados/v1/dispatch/quarantine/lift") { request, _ in
            let type = try await Self.required("instance_type", in: request)
            try await control.liftQuarantine(InstanceTypeName(rawValue: type))
            return Self.empty()
        }
        for path in ["/metrics", "/metrics.json"] {
            api.get(RouterPath(path)) { _, _ in
                Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: metrics?.exposition() ?? []))
                )
            }
        }
        api.get("/_health/:check") { request, context in
            // As Arvados's health handler: the ping needs the token as a bearer header, not just anywhere.
            guard context.parameters.get("check") == "ping" else {
                return ManagementAuthMiddleware<BasicRequestContext>.text(.notFound, "404 page not found")
            }
            guard let header = request.headers[.authorization] else {
                return ManagementAuthMiddleware<BasicRequestContext>.text(.unauthorized, "authorization required")
            }
            guard ArvadosCredentials.constantTimeEqual(header, "Bearer " + token) else {
                return ManagementAuthMiddleware<BasicRequestContext>.text(.forbidden, "authorization error")
            }
            do {
                try await control.checkHealth()
                return Self.json(Health(health: "OK", error: nil))
            } catch {
                return Self.json(Health(health: "ERROR", error: (error as? ManagementError)?.message ?? "\(error)"))
            }
        }
        return router
    }

    // MARK: - Helpers

    struct ItemList<Item: Encodable & Sendable>: Encodable, Sendable {
        var items: [Item]
    }

    /// One page of a listing, with Arvados's list fields.
    struct PagedList<Item: Encodable & Sendable>: Encodable, Sendable {
        var items: [Item]
        var itemsAvailable: Int
        var offset: Int
        var limit: Int?

        enum CodingKeys: String, CodingKey {
            case items
            case itemsAvailable = "items_available"
            case offset
            case limit
        }
    }

    /// The opt-in `limit` and `offset` of a listing; neither given means the whole list in Arvados's shape.
    struct Page: Sendable, Equatable {
        var offset: Int?
        var limit: Int?

        init(offset: Int? = nil, limit: Int? = nil) {
            self.offset = offset
            self.limit = limit
        }

        init(parameters: [String: String]) throws(ManagementError) {
            self.offset = try Self.count("offset", parameters)
            self.limit = try Self.count("limit", parameters)
        }

        /// A parameter that must be a whole number ≥ 0 when present (an empty value counts as absent).
        private static func count(_ name: String, _ parameters: [String: String]) throws(ManagementError) -> Int? {
            guard let text = parameters[name], !text.isEmpty else { return nil }
            guard let value = Int(text), value >= 0 else {
                throw ManagementError(.badRequest, "\(name): must be a whole number from 0 to \(Int.max)")
            }
            return value
        }

        /// The range of a list of `count` items this page covers.
        func range(of count: Int) -> Range<Int> {
            let start = min(self.offset ?? 0, count)
            let (end, overflow) = start.addingReportingOverflow(self.limit ?? count)
            return start..<(overflow ? count : min(end, count))
        }
    }

    /// A listing's response: every item in Arvados's shape, or the page asked for with the total.
    static func list<Item: Encodable & Sendable>(_ items: [Item], page: Page) -> Response {
        guard page.offset != nil || page.limit != nil else { return Self.json(ItemList(items: items)) }
        let range = page.range(of: items.count)
        return Self.json(
            PagedList(
                items: Array(items[range]),
                itemsAvailable: items.count,
                offset: range.lowerBound,
                limit: page.limit
            )
        )
    }

    struct Health: Encodable, Sendable {
        var health: String
        var error: String?
    }

    struct ErrorBody: Codable, Sendable {
        var errors: [String]
    }

    /// The request's parameters: form body values win over query values, as Go's `FormValue` has it.
    static func parameters(of request: Request) async throws(ManagementError) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in FormParameters.pairs(request.uri.query ?? "") where result[name] == nil {
            result[name] = value
        }
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces)
        guard type == "application/x-www-form-urlencoded" else { return result }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maximumBodySize)
        } catch {
            throw ManagementError(.badRequest, "the request body is too large or unreadable")
        }
        var bodyValues: [String: String] = [:]
        for (name, value) in FormParameters.pairs(String(buffer: body)) where bodyValues[name] == nil {
            bodyValues[name] = value
        }
        return result.merging(bodyValues) { _, body in body }
    }

    static func required(_ name: String, in request: Request) async throws(ManagementError) -> String {
        try Self.required(name, in: try await Self.parameters(of: request))
    }

    static func required(_ name: String, in parameters: [String: String]) throws(ManagementError) -> String {
        guard let value = parameters[name], !value.isEmpty else {
            throw ManagementError(.badRequest, "\(name) parameter not provided")
        }
        return value
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let bytes = (try? encoder.encode(value)).map { Array($0) + [UInt8(ascii: "\n")] } ?? Array("null\n".utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    /// Whether `text` can be a container UUID or an instance ID: 1 to 256 printable ASCII characters.
    static func isIdentifier(_ text: String) -> Bool {
        text.utf8.count <= 256 && text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    static func empty() -> Response {
        Response(status: .ok)
    }
}
