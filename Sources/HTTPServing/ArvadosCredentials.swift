import Foundation
public import Hummingbird

/// The one rule both HTTP APIs read a caller's tokens by, Arvados's `CredentialsFromRequest`: an
/// `Authorization: Bearer <t>` or `OAuth2 <t>` header (scheme names as written, as Arvados compares them), the
/// password of HTTP Basic authentication, every `api_token` query parameter, and the base64url-encoded
/// `arvados_api_token` cookie, in that order.
public enum ArvadosCredentials: Sendable {
    /// Every token `request` offers, in Arvados's order.
    public static func tokens(in request: Request) -> [String] {
        Self.tokens(
            authorization: request.headers[.authorization],
            query: request.uri.query,
            cookie: request.headers[.cookie]
        )
    }

    /// Every token offered by these header values and this raw query string, in Arvados's order.
    public static func tokens(authorization: String?, query: String?, cookie: String?) -> [String] {
        var tokens: [String] = []
        if let authorization {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2 {
                let value = parts[1].trimmingCharacters(in: .whitespaces)
                switch parts[0] {
                case "Bearer", "OAuth2":
                    if !value.isEmpty { tokens.append(value) }
                case "Basic":
                    if let decoded = Data(base64Encoded: value),
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
        if let query {
            tokens += FormParameters.pairs(query).filter { $0.0 == "api_token" && !$0.1.isEmpty }.map(\.1)
        }
        if let cookie {
            for item in cookie.split(separator: ";") {
                let parts = item.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0] == "arvados_api_token", let value = Self.base64URLDecoded(parts[1])
                else { continue }
                tokens.append(value)
            }
        }
        return tokens
    }

    /// Compares without stopping at the first difference, so response times do not reveal a token.
    public static func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
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

    private static func base64URLDecoded(_ text: Substring) -> String? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64.append("=") }
        guard let data = Data(base64Encoded: base64) else { return nil }
        return String(data: data, encoding: .utf8)
    }
}
