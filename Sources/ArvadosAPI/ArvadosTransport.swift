public import AsyncHTTPClient
public import DispatchModel
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// One API request as ``ArvadosClient`` hands it to its transport.
public struct ArvadosHTTPRequest: Sendable {
    public var method: String
    /// The whole URL, query included.
    public var url: URL
    /// Header names and values, in order (the transport adds `Host` and `Content-Length`).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// How long the request may take in all.
    public var timeout: Duration

    public init(
        method: String,
        url: URL,
        headers: [(name: String, value: String)],
        body: [UInt8]?,
        timeout: Duration
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// `METHOD /path` for messages: never the query (it may be long) nor the headers (they hold the token).
    var summary: String { "\(self.method) \(self.url.path)" }
}

/// The answer to an ``ArvadosHTTPRequest``: any status, with its body.
public struct ArvadosHTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

/// How ``ArvadosClient`` sends requests: the seam between the typed API and the HTTP implementation.
///
/// A transport reports a request that did not complete as ``ArvadosAPIError/Code/transport``; any HTTP status
/// is a response, which the client interprets.
public protocol ArvadosTransport: Sendable {
    func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse
}

/// A transport that answers container lists with values, with no JSON in between: an API in this process
/// (a simulation's in-memory API), where encoding and decoding every polled container was most of the cost.
///
/// ``ArvadosClient/containers(filters:order:limit:offset:select:count:)`` asks it first; `nil` means "send
/// it as HTTP after all" (a request the source does not take typed). The answer must be what the JSON round
/// trip would give: only the selected attributes set, the others at their defaults.
public protocol ArvadosContainerSource: ArvadosTransport {
    func containers(
        token: String,
        filters: [ArvadosFilter],
        order: [String],
        limit: Int?,
        offset: Int?,
        select: [String]?,
        count: String?
    ) async throws(ArvadosAPIError) -> ArvadosList<Container>?

    /// Answers `request`, which the client decodes as one container record (a create, read, update, lock or
    /// unlock), with the record itself where it can: `.container` must be what decoding the JSON answer gives,
    /// and `.response` is the HTTP answer otherwise (an error, or a read with `select`), for the client to read as
    /// ever. The request is handled once either way.
    func answerWithContainer(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosContainerAnswer
}

/// An ``ArvadosContainerSource``'s answer to a request for one container record.
public enum ArvadosContainerAnswer: Sendable {
    /// The record, as its JSON answer decodes.
    case container(Container)
    /// The HTTP answer.
    case response(ArvadosHTTPResponse)
}

/// Requests through AsyncHTTPClient: a pool of kept-alive connections on NIO's event loops, with TLS and the
/// system's trust roots. What the dispatcher and every HTTPS client use.
public struct AsyncHTTPClientTransport: ArvadosTransport {
    private let http: HTTPClient

    /// - Parameter http: the client; the process-wide shared one by default.
    public init(http: HTTPClient = .shared) { self.http = http }

    public func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
        var outgoing = HTTPClientRequest(url: request.url.absoluteString)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await self.http.execute(outgoing, timeout: .nanoseconds(request.timeout.nanoseconds))
            let buffer = try await response.body.collect(upTo: ArvadosClient.maximumResponseBytes)
            return ArvadosHTTPResponse(status: Int(response.status.code), body: Array(buffer.readableBytesView))
        } catch {
            throw ArvadosAPIError(code: .transport, message: "\(request.summary): \(Self.describe(error))")
        }
    }

    /// A transport error in words (AsyncHTTPClient's errors print as type names).
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "connection timed out"
            case .deadlineExceeded, .readTimeout: return "the request timed out"
            case .remoteConnectionClosed: return "the server closed the connection"
            default: return "\(error)"
            }
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case ECONNRESET: return "connection reset by the server"
            case ETIMEDOUT: return "connection timed out"
            case EHOSTUNREACH, ENETUNREACH: return "no route to the host"
            default: return error.description
            }
        }
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "TLS handshake failed: the server's certificate is not trusted (expired, not signed by a "
                + "trusted CA, or not issued for this host; CERTIFICATE_VERIFY_FAILED)"
        }
        return text
    }
}

extension AsyncHTTPClientTransport {
    /// Requests that trust exactly the CA certificates in `caPEM` (PEM) for https, as a server with a private CA
    /// (`dispatch-cloud tls init`) needs; plain http is unaffected.
    ///
    /// - Throws: ``ArvadosAPIError/Code/configuration`` when `caPEM` holds no certificate.
    public init(trustingCA caPEM: String) throws(ArvadosAPIError) {
        self.init(http: try ArvadosClient.httpClient(trustingCA: caPEM, retryConnections: false))
    }
}
