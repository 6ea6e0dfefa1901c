import Foundation
import HTTPServing
import HTTPTypes
import Hummingbird
import NIOCore

/// Arvados's `RequireLiteralToken` in front of the management routes (reference §5.1).
///
/// With no token configured every request is refused with 403 "Management API authentication is not
/// configured". Otherwise a request that carries no token gets 401, and one whose tokens all differ from the
/// configured one gets 403. Tokens are read as Arvados reads them: `Authorization: Bearer <t>` or
/// `OAuth2 <t>`, the password of HTTP Basic authentication, the `api_token` query parameter, and the
/// base64url-encoded `arvados_api_token` cookie.
struct ManagementAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The configured management token; empty disables the API.
    var token: String

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard !self.token.isEmpty else {
            return Self.text(.forbidden, "Management API authentication is not configured")
        }
        let offered = ArvadosCredentials.tokens(in: request)
        guard !offered.isEmpty else { return Self.text(.unauthorized, "Unauthorized") }
        guard offered.contains(where: { ArvadosCredentials.constantTimeEqual($0, self.token) }) else {
            return Self.text(.forbidden, "Forbidden")
        }
        return try await next(request, context)
    }

    /// A plain-text response, as Go's `http.Error` writes it.
    static func text(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8", .init("X-Content-Type-Options")!: "nosniff"],
            body: .init(byteBuffer: ByteBuffer(string: message + "\n"))
        )
    }
}
