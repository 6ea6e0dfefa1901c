import Foundation
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
        let offered = Self.tokens(in: request)
        guard !offered.isEmpty else { return Self.text(.unauthorized, "Unauthorized") }
        guard offered.contains(where: { Self.constantTimeEqual($0, self.token) }) else {
            return Self.text(.forbidden, "Forbidden")
        }
        return try await next(request, context)
    }

    /// Every token a request offers, in Arvados's order: header, Basic password, query, cookie.
    static func tokens(in request: Request) -> [String] {
        var tokens: [String] = []
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2 {
                switch parts[0] {
                case "Bearer", "OAuth2":
                    tokens.append(String(parts[1]))
                case "Basic":
                    if let decoded = Data(base64Encoded: String(parts[1])),
                        let text = String(data: decoded, encoding: .utf8),
                        let colon = text.firstIndex(of: ":")
                    {
                        tokens.append(String(text[text.index(after: colon)...]))
                    }
                default:
                    break
                }
            }
        }
        tokens.append(contentsOf: FormParameters.pairs(request.uri.query ?? "").filter { $0.0 == "api_token" }.map(\.1))
        if let cookies = request.headers[.cookie] {
            for cookie in cookies.split(separator: ";") {
                let parts = cookie.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0] == "arvados_api_token", let value = Self.base64URLDecoded(parts[1])
                else { continue }
                tokens.append(value)
            }
        }
        return tokens
    }

    private static func base64URLDecoded(_ text: Substring) -> String? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64.append("=") }
        guard let data = Data(base64Encoded: base64) else { return nil }
        return String(data: data, encoding: .utf8)
    }

    /// Compares without stopping at the first difference, so response times do not reveal the token.
    static func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8)
        let right = Array(rhs.utf8)
        var difference = UInt8(left.count == right.count ? 0 : 1)
        for index in 0..<max(left.count, right.count) {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            difference |= a ^ b
        }
        return difference == 0
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
