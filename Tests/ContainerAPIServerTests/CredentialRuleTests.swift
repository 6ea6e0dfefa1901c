import AsyncHTTPClient
import ContainerAPIServer
import DispatchModel
import Foundation
import NIOHTTP1
import Testing

/// The container API reads tokens by the same rule as the management API (Arvados's `CredentialsFromRequest`):
/// every form a real Arvados client or browser uses is accepted, and a scheme name in other case is not.
@Suite("One token rule for both HTTP APIs")
struct CredentialRuleTests {
    static let base64URLToken = Data(TestTokens.alice.utf8).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")

    @Test(
        "A Bearer or OAuth2 header, a Basic password, the api_token parameter and the cookie each authenticate",
        arguments: [
            ("", [("Authorization", "Bearer \(TestTokens.alice)")]),
            ("", [("Authorization", "OAuth2 \(TestTokens.alice)")]),
            ("", [("Authorization", "Basic " + Data("alice:\(TestTokens.alice)".utf8).base64EncodedString())]),
            ("?api_token=\(TestTokens.alice)", []),
            ("", [("Cookie", "theme=dark; arvados_api_token=\(Self.base64URLToken)")]),
        ]
    )
    func sources(query: String, headers: [(String, String)]) async throws {
        try await LiveServer.with { server in
            let path = "/arvados/v1/api_client_authorizations/current"
            let alice = try await server.call(.GET, path, token: TestTokens.alice)
            let root = try await server.call(.GET, path, token: TestTokens.root)
            #expect(alice["owner_uuid"] != root["owner_uuid"])
            let response = try await server.call(.GET, path + query, token: nil, headers: headers)
            #expect(response.status == 200, "\(headers)")
            #expect(response["owner_uuid"] == alice["owner_uuid"])
        }
    }

    @Test(
        "A header with another scheme or case, or no token, is refused with 401 before the body is read",
        arguments: ["bearer \(TestTokens.alice)", "Token \(TestTokens.alice)", "Basic !!!", "Bearer"]
    )
    func refused(authorization: String) async throws {
        try await LiveServer.with { server in
            let response = try await server.call(
                .GET,
                "/arvados/v1/api_client_authorizations/current",
                token: nil,
                headers: [("Authorization", authorization)]
            )
            #expect(response.status == 401)
            #expect(!response.errors.isEmpty)
        }
    }
}
