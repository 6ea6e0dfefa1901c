import AsyncHTTPClient
import NIOSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Clients that trust a private certificate authority explicitly (`dispatch-cloud tls init`'s CA) instead of
/// the system's roots, and never instead of checking certificates at all.
extension ArvadosClient {
    /// The runner's variable naming the CA to trust for the API: the PEM itself (what the dispatcher sends, so a
    /// VM needs no file) or the path of a PEM file. Unset: the system's trust roots, as `crunch-run`.
    public static let caVariable = "ARVADOS_API_CA"

    /// PEM bundles larger than this are refused.
    static let maximumCABytes = 1 << 20

    /// A client of `baseURL` whose HTTPS connections trust exactly the certificates in `caPEM` (PEM text).
    ///
    /// - Parameter retryConnections: whether a connection that cannot be made is retried until the request's
    ///   deadline (AsyncHTTPClient's default) or fails the request at once (a runner's choice).
    public init(
        baseURL: URL,
        token: String,
        timeout: TimeInterval = 60,
        trustingCA caPEM: String,
        retryConnections: Bool = true
    ) throws(ArvadosAPIError) {
        let http = try Self.httpClient(trustingCA: caPEM, retryConnections: retryConnections)
        self.init(baseURL: baseURL, token: token, timeout: timeout, http: http)
    }

    /// The transport of a client that trusts exactly the certificates in `caPEM`, for wrapping (the dispatcher
    /// puts a ``PoliteTransport`` around it).
    public static func transport(
        trustingCA caPEM: String,
        retryConnections: Bool = true
    ) throws(ArvadosAPIError) -> AsyncHTTPClientTransport {
        AsyncHTTPClientTransport(http: try Self.httpClient(trustingCA: caPEM, retryConnections: retryConnections))
    }

    /// The CA PEM `value` holds or names (see ``caVariable``); throws naming `source`.
    public static func caPEM(_ value: String, source: String = caVariable) throws(ArvadosAPIError) -> String {
        if value.drop(while: { $0.isWhitespace }).hasPrefix("-----BEGIN") { return value }
        let path = value.hasPrefix("file://") ? String(value.dropFirst("file://".count)) : value
        guard path.hasPrefix("/") else {
            throw ArvadosAPIError(code: .configuration, message: "\(source) is neither PEM nor an absolute file path")
        }
        guard let bytes = Self.readFile(path, limit: Self.maximumCABytes) else {
            throw ArvadosAPIError(code: .configuration, message: "\(source): cannot read \(path) (or it is over 1 MiB)")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// One HTTP client per CA and retry choice, for the life of the process (clients are never shut down, like
    /// `HTTPClient.shared`).
    static func httpClient(trustingCA caPEM: String, retryConnections: Bool) throws(ArvadosAPIError) -> HTTPClient {
        let key = "\(retryConnections)\n\(caPEM)"
        if let cached = Self.trustingClients.withLock({ $0[key] }) { return cached }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8))
        } catch {
            throw ArvadosAPIError(code: .configuration, message: "the CA to trust holds no readable PEM certificate")
        }
        guard !certificates.isEmpty else {
            throw ArvadosAPIError(code: .configuration, message: "the CA to trust holds no PEM certificate")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(certificates)
        tls.certificateVerification = .fullVerification
        tls.minimumTLSVersion = .tlsv12
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.tlsConfiguration = tls
        configuration.connectionPool.retryConnectionEstablishment = retryConnections
        return Self.trustingClients.withLock { clients in
            if let raced = clients[key] { return raced }
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            clients[key] = client
            return client
        }
    }

    /// A file's bytes, or `nil` if it cannot be read or is longer than `limit`.
    static func readFile(_ path: String, limit: Int) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
            if bytes.count > limit { return nil }
        }
    }

    private static let trustingClients = Mutex<[String: HTTPClient]>([:])
}
