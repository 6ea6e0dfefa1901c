import DispatchModel
import Foundation
import HTTPServing
public import HTTPTypes
public import Hummingbird
import Logging

/// The HTTP face of the container API: it authenticates, gathers parameters, calls the store and renders the
/// Arvados JSON; the rules live in ``ContainerRules`` and the storage in ``ContainerStore``.
struct RequestHandlers: Sendable {
    var configuration: ContainerAPIServer.Configuration
    var store: ContainerStore
    var tokens: TokenDirectory
    var logger: Logger

    /// A request's caller and parameters.
    struct Call: Sendable {
        var caller: Caller
        var parameters: [String: JSONValue]
        var pathUUID: String
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ArvadosErrorMiddleware(logger: self.logger))
        router.get("/discovery/v1/apis/arvados/v1/rest") { request, _ in
            Self.json(DiscoveryDocument.document(rootURL: self.rootURL(for: request)))
        }
        router.get("/arvados/v1/containers") { request, context in
            try await self.handleRendered(request, context) { call throws(ContainerAPIError) in
                try await self.listContainers(call)
            }
        }
        router.post("/arvados/v1/containers") { request, context in
            try await self.handleRendered(request, context) { call throws(ContainerAPIError) in
                if Self.isMethodOverride(to: "GET", request: request, parameters: call.parameters) {
                    return try await self.listContainers(call)
                }
                let selection = try Self.containerSelection(call.parameters["select"])
                let attributes = try Self.object(call.parameters["container"], name: "container")
                let stored = try await self.store.createStoredContainer(attributes: attributes, by: call.caller)
                return RenderedJSON.object(stored.document, selection: selection)
            }
        }
        router.get("/arvados/v1/containers/:uuid") { request, context in
            try await self.handleRendered(request, context) { call throws(ContainerAPIError) in
                let selection = try Self.containerSelection(call.parameters["select"])
                let document = try await self.store.containerDocument(call.pathUUID, as: call.caller)
                return RenderedJSON.object(document, selection: selection)
            }
        }
        let update: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
            try await self.handleRendered(request, context) { call throws(ContainerAPIError) in
                let selection = try Self.containerSelection(call.parameters["select"])
                let attributes = try Self.object(call.parameters["container"], name: "container")
                let stored = try await self.store.updateStoredContainer(
                    call.pathUUID,
                    attributes: attributes,
                    by: call.caller
                )
                return RenderedJSON.object(stored.document, selection: selection)
            }
        }
        router.put("/arvados/v1/containers/:uuid", use: update)
        router.patch("/arvados/v1/containers/:uuid", use: update)
        router.post("/arvados/v1/containers/:uuid/lock") { request, context in
            try await self.handleRendered(request, context) { call throws(ContainerAPIError) in
                try await self.store.lockStoredContainer(call.pathUUID, by: call.caller).document
            }
        }
        router.post("/arvados/v1/containers/:uuid/unlock") { request, context in
            try await self.handleRendered(request, context) { call throws(ContainerAPIError) in
                try await self.store.unlockStoredContainer(
                    call.pathUUID,
                    by: call.caller,
                    maxDispatchAttempts: self.configuration.maxDispatchAttempts,
                    requeueRunning: Self.requeueRunning(call.parameters)
                ).document
            }
        }
        router.get("/arvados/v1/api_client_authorizations/current") { request, context in
            try await self.handle(request, context) { call throws(ContainerAPIError) in
                Self.authorization(call.caller)
            }
        }
        router.get("/arvados/v1/logs") { request, context in
            try await self.handle(request, context) { call throws(ContainerAPIError) in
                try await self.listLogs(call)
            }
        }
        router.post("/arvados/v1/logs") { request, context in
            try await self.handle(request, context) { call throws(ContainerAPIError) in
                if Self.isMethodOverride(to: "GET", request: request, parameters: call.parameters) {
                    return try await self.listLogs(call)
                }
                let attributes = try Self.object(call.parameters["log"], name: "log")
                try Self.checkSelect(call.parameters["select"], allowed: Set(LogRecord.fields))
                let record = try await self.store.createLog(attributes: attributes, by: call.caller)
                return Self.select(try record.object(), kind: "arvados#log", select: call.parameters["select"])
            }
        }
        router.get("/arvados/v1/logs/:uuid") { request, context in
            try await self.handle(request, context) { call throws(ContainerAPIError) in
                try Self.checkSelect(call.parameters["select"], allowed: Set(LogRecord.fields))
                let record = try await self.store.log(call.pathUUID, as: call.caller)
                return Self.select(try record.object(), kind: "arvados#log", select: call.parameters["select"])
            }
        }
        return router
    }

    // MARK: Resources

    /// A container list: the stored documents spliced into the envelope, each cut down to the `select`.
    private func listContainers(_ call: Call) async throws(ContainerAPIError) -> [UInt8] {
        let query = try ListQuery(
            parameters: call.parameters,
            schema: .containers,
            maxLimit: self.configuration.maxItemsPerResponse
        )
        let result = try await self.store.listContainers(query, as: call.caller)
        return RenderedJSON.listEnvelope(
            kind: ListSchema.containers.listKind,
            items: result.items,
            available: result.available,
            offset: query.offset,
            limit: query.limit
        )
    }

    private func listLogs(_ call: Call) async throws(ContainerAPIError) -> JSONValue {
        let query = try ListQuery(
            parameters: call.parameters,
            schema: .logs,
            maxLimit: self.configuration.maxItemsPerResponse
        )
        let result = try await self.store.listLogs(query, as: call.caller)
        var items: [JSONValue] = []
        for record in result.items {
            items.append(
                Self.select(
                    try record.object(),
                    kind: "arvados#log",
                    select: query.select.map { .array($0.map(JSONValue.string)) }
                )
            )
        }
        return Self.envelope(kind: ListSchema.logs.listKind, items: items, available: result.available, query: query)
    }

    private static func authorization(_ caller: Caller) -> JSONValue {
        .object([
            "kind": .string("arvados#apiClientAuthorization"),
            "etag": .string(""),
            "uuid": .string(caller.tokenUUID),
            "owner_uuid": .string(caller.userUUID),
            "scopes": .array([.string("all")]),
            "created_at": .null,
            "expires_at": .null,
            "last_used_at": .null,
            "created_by_ip_address": .null,
            "last_used_by_ip_address": .null,
        ])
    }

    // MARK: Plumbing

    /// Authenticates, gathers the parameters, runs `body` and renders its JSON.
    private func handle(
        _ request: Request,
        _ context: BasicRequestContext,
        _ body: (Call) async throws(ContainerAPIError) -> JSONValue
    ) async throws -> Response {
        try await self.handleRendered(request, context) { call throws(ContainerAPIError) in
            WireJSON.bytes(try await body(call))
        }
    }

    /// Authenticates, gathers the parameters and runs `body`, which returns the response's JSON text.
    ///
    /// The token is checked before the body is read: a request with an unknown token is refused without reading
    /// its body, and a request with no token in its `Authorization` header or query string may carry at most
    /// ``RequestLimits/unauthenticatedBodyBytes`` of body (which may hold `api_token`).
    private func handleRendered(
        _ request: Request,
        _ context: BasicRequestContext,
        _ body: (Call) async throws(ContainerAPIError) -> [UInt8]
    ) async throws -> Response {
        let query = request.uri.query
        if let query, query.utf8.count > RequestLimits.maxQueryBytes {
            throw ContainerAPIError(
                .badRequest,
                "The query string has \(query.utf8.count) bytes, at most \(RequestLimits.maxQueryBytes) allowed: "
                    + "send long queries in the body of a POST with _method=GET"
            )
        }
        // A malformed query string is a 400 before anything else, even for a caller with no token.
        _ = try RequestParameters.parse(query: query, body: [], contentType: nil)
        let caller: Caller?
        switch Self.credential(request: request) {
        case .token(let token):
            guard let known = self.tokens.caller(for: token) else {
                throw ContainerAPIError(.unauthorized, "Not logged in: the token is not valid")
            }
            caller = known
        case .malformed:
            throw ContainerAPIError(.unauthorized, "Not logged in")
        case .none:
            caller = nil
        }
        let bytes = try await Self.collectBody(
            request,
            limit: caller == nil ? RequestLimits.unauthenticatedBodyBytes : self.configuration.maxRequestBodySize,
            authenticated: caller != nil
        )
        let parameters: [String: JSONValue]
        let authenticated: Caller
        if let caller {
            parameters = try RequestParameters.parse(
                query: query,
                body: bytes,
                contentType: request.headers[.contentType]
            )
            authenticated = caller
        } else {
            let parsed = try? RequestParameters.parse(
                query: query,
                body: bytes,
                contentType: request.headers[.contentType]
            )
            guard let parsed, let token = parsed["api_token"]?.stringValue, !token.isEmpty else {
                throw ContainerAPIError(.unauthorized, "Not logged in")
            }
            guard let known = self.tokens.caller(for: token) else {
                throw ContainerAPIError(.unauthorized, "Not logged in: the token is not valid")
            }
            parameters = parsed
            authenticated = known
        }
        let uuid = context.parameters.get("uuid") ?? ""
        let result = try await body(Call(caller: authenticated, parameters: parameters, pathUUID: uuid))
        return Self.json(bytes: result)
    }

    /// Reads the body, refusing one past `limit`: with 413 if the caller is authenticated, else with 401.
    private static func collectBody(
        _ request: Request,
        limit: Int,
        authenticated: Bool
    ) async throws(ContainerAPIError) -> [UInt8] {
        let tooLarge =
            authenticated
            ? ContainerAPIError(.contentTooLarge, "The request body is larger than \(limit) bytes")
            : ContainerAPIError(
                .unauthorized,
                "Not logged in (without a token in the Authorization header or the query string, "
                    + "a request body may have at most \(limit) bytes)"
            )
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw tooLarge
        }
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge
        } catch {
            throw ContainerAPIError(.badRequest, "The request body could not be read", cause: error)
        }
    }

    /// Where a request's token comes from, before its body is read.
    enum Credential {
        /// A token in the `Authorization` header or the `api_token` query parameter.
        case token(String)
        /// An `Authorization` header that holds no usable token.
        case malformed
        /// Neither; the body may still hold `api_token`.
        case none
    }

    /// The token of `request` by Arvados's rule (``ArvadosCredentials``): the first it offers in the
    /// `Authorization` header, the `api_token` query parameter or the `arvados_api_token` cookie.
    private static func credential(request: Request) -> Credential {
        Self.credential(
            authorization: request.headers[.authorization],
            query: request.uri.query,
            cookie: request.headers[.cookie]
        )
    }

    /// The same rule on raw header values and query string (the in-memory API's requests have no `Request`).
    static func credential(authorization: String?, query: String?, cookie: String?) -> Credential {
        let offered = ArvadosCredentials.tokens(authorization: authorization, query: query, cookie: cookie)
        if let token = offered.first(where: { !$0.isEmpty }) { return .token(token) }
        return authorization == nil ? .none : .malformed
    }

    /// The header clients use to send a long `GET` as a `POST`.
    private static let methodOverride = HTTPField.Name("X-Http-Method-Override")!

    private static func isMethodOverride(to method: String, request: Request, parameters: [String: JSONValue]) -> Bool {
        if let header = request.headers[Self.methodOverride], header.uppercased() == method {
            return true
        }
        return parameters["_method"]?.stringValue?.uppercased() == method
    }

    private static func object(_ value: JSONValue?, name: String) throws(ContainerAPIError) -> [String: JSONValue] {
        guard let value, let object = value.objectValue else {
            throw ContainerAPIError(.unprocessable, "The request needs a \"\(name)\" object parameter")
        }
        return object
    }

    private func rootURL(for request: Request) -> String {
        if let external = self.configuration.externalURL {
            return external
        }
        if let authority = request.head.authority, !authority.isEmpty {
            return "http://\(authority)/"
        }
        return "http://\(self.configuration.host):\(self.configuration.port)/"
    }

    /// The attributes of a container that a `select` parameter keeps, after checking that it names only those.
    /// `requeue_running=true` on an unlock (a DispatchCloud extension): the lock holder returns a Running container
    /// to the queue, as after a preemption. Without it an unlock of a Running container fails, as in Arvados.
    static func requeueRunning(_ parameters: [String: JSONValue]) -> Bool {
        switch parameters["requeue_running"] {
        case .bool(let value)?: value
        case .string(let text)?: text == "true"
        default: false
        }
    }

    static func containerSelection(_ select: JSONValue?) throws(ContainerAPIError) -> RenderedJSON.Selection? {
        try Self.checkSelect(select, allowed: ContainerRules.fieldSet)
        return RenderedJSON.Selection(select?.arrayValue?.compactMap(\.stringValue))
    }

    /// Refuses a `select` that is not an array of attribute names of the resource.
    static func checkSelect(_ select: JSONValue?, allowed: Set<String>) throws(ContainerAPIError) {
        guard let select, !select.isNull else { return }
        guard let names = select.arrayValue else {
            throw ContainerAPIError(.unprocessable, "Invalid select: expected an array of attribute names")
        }
        for name in names where !(name.stringValue.map(allowed.contains) ?? false) {
            throw ContainerAPIError(.unprocessable, "Invalid attribute \(WireJSON.string(name)) in select")
        }
    }

    /// The object with its `kind`, cut down to the attributes in `select` if given.
    static func select(_ object: [String: JSONValue], kind: String, select: JSONValue?) -> JSONValue {
        var object = object
        if let names = select?.arrayValue?.compactMap(\.stringValue) {
            let wanted = Set(names)
            object = object.filter { wanted.contains($0.key) }
        }
        object["kind"] = .string(kind)
        return .object(object)
    }

    private static func envelope(kind: String, items: [JSONValue], available: Int?, query: ListQuery) -> JSONValue {
        var envelope: [String: JSONValue] = [
            "kind": .string(kind),
            "etag": .string(""),
            "self_link": .string(""),
            "offset": .int(Int64(query.offset)),
            "limit": .int(Int64(query.limit)),
            "items": .array(items),
        ]
        if let available {
            envelope["items_available"] = .int(Int64(available))
        }
        return .object(envelope)
    }

    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        Self.json(bytes: WireJSON.bytes(value), status: status)
    }

    static func json(bytes: [UInt8], status: Int = 200) -> Response {
        Response(
            status: .init(code: status),
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}

/// Turns every error into an Arvados error response: the right status and `{"errors": [...], "error_token": ...}`.
struct ArvadosErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    var logger: Logger

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ContainerAPIError {
            if error.code == .internal {
                self.logger.error(
                    "Container API request failed",
                    metadata: [
                        "api.path": "\(RequestLimits.loggable(request.uri.path))",
                        "error": "\(RequestLimits.loggable(error.description))",
                    ]
                )
            }
            return try error.response(from: request, context: context)
        } catch let error as HTTPError {
            let message = error.body ?? error.status.reasonPhrase
            return Self.response(status: error.status.code, message: message)
        } catch {
            self.logger.error(
                "Container API request failed",
                metadata: [
                    "api.path": "\(RequestLimits.loggable(request.uri.path))",
                    "error": "\(RequestLimits.loggable(String(describing: error)))",
                ]
            )
            return Self.response(status: 500, message: "Internal server error")
        }
    }

    static func response(status: Int, message: String) -> Response {
        let errorToken = "\(Int(Date().timeIntervalSince1970))+\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        return RequestHandlers.json(
            .object(["errors": .array([.string(message)]), "error_token": .string(errorToken)]),
            status: status
        )
    }
}

/// A handler throws a ``ContainerAPIError``; it answers as Arvados's API server does, an Arvados error body
/// with the error's status.
extension ContainerAPIError: HTTPResponseError {
    public var status: HTTPResponse.Status { .init(code: self.code.httpStatus) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        ArvadosErrorMiddleware.response(status: self.code.httpStatus, message: self.message)
    }
}
