import AsyncHTTPClient
import NIOSSL

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A client that does not check the server's certificate, for `ARVADOS_API_HOST_INSECURE` as Arvados's SDKs
/// honour it. Only the command line offers it, and it says so when it does.
extension ArvadosClient {
    /// A client of `baseURL` that accepts any certificate; a connection that cannot be made fails at once.
    public static func skippingCertificateVerification(
        baseURL: URL,
        token: String,
        timeout: TimeInterval = 60
    ) -> ArvadosClient {
        ArvadosClient(baseURL: baseURL, token: token, timeout: timeout, http: Self.insecureHTTPClient)
    }

    /// Process-wide and never shut down, like `.shared`.
    static let insecureHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        configuration.tlsConfiguration = tls
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}
