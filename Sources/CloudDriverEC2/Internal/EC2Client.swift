import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RemoteExecution

/// Calls the EC2 Query API: a signed form POST per call, an XML document back.
struct EC2Client: Sendable {
    /// The API version every request names.
    static let apiVersion = "2016-11-15"

    let endpoint: EC2Endpoint
    let signer: SigV4Signer
    let httpClient: HTTPClient
    let timeout: Duration
    let logger: Logger

    /// Sends `action` with `parameters` and returns the answer's root element.
    ///
    /// Throws an ``EC2APIError`` carrying EC2's code when EC2 answers with an error document (any status),
    /// and one of kind ``EC2APIError/Kind-swift.struct/transport`` when there is no usable answer.
    func call(_ action: String, _ parameters: [(String, String)]) async throws(EC2APIError) -> XMLTree {
        let body = Array(
            SigV4Signer.formBody([("Action", action), ("Version", Self.apiVersion)] + parameters).utf8
        )
        let headers = self.signer.sign(
            method: "POST",
            path: self.endpoint.path,
            query: "",
            headers: [
                "Host": self.endpoint.hostHeader,
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            ],
            body: body,
            secondsSince1970: Int64(Date().timeIntervalSince1970.rounded(.down))
        )
        var request = HTTPClientRequest(url: self.endpoint.url)
        request.method = .POST
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))

        let status: Int
        let bytes: [UInt8]
        do {
            let response = try await self.httpClient.execute(
                request,
                timeout: .nanoseconds(self.timeout.components.seconds * 1_000_000_000),
                logger: self.logger
            )
            status = Int(response.status.code)
            var buffer = try await response.body.collect(upTo: 64 << 20)
            bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            throw .transport("\(action) to \(self.endpoint.url) failed", cause: error)
        }
        let document = XMLTree.parse(bytes)
        if let document, let failure = Self.error(in: document, status: status) {
            throw failure
        }
        guard (200..<300).contains(status) else {
            let excerpt = String(decoding: bytes.prefix(200), as: UTF8.self)
            throw .transport("\(action) answered HTTP \(status): \(excerpt)", httpStatus: status)
        }
        guard let document else {
            throw .transport("\(action) answered with a document that is not XML", httpStatus: status)
        }
        return document
    }

    /// The error in an EC2 error document (`Response/Errors/Error`, or `ErrorResponse/Error(s)` as some
    /// endpoints and moto write it), or `nil` if `document` is not one.
    static func error(in document: XMLTree, status: Int) -> EC2APIError? {
        guard document.name == "Response" || document.name == "ErrorResponse",
            let error = document.first(named: "Error"),
            let code = error.text(at: "Code"), !code.isEmpty
        else { return nil }
        return EC2APIError(
            awsCode: code,
            message: error.text(at: "Message") ?? "",
            httpStatus: status,
            requestID: document.text(at: "RequestID") ?? document.text(at: "RequestId")
        )
    }
}

/// Where EC2 requests go: `https://ec2.<region>.amazonaws.com/` or a configured override.
public struct EC2Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// The URL requests are posted to.
    public var url: String
    /// The host name or address, without brackets.
    public var host: String
    /// `Host` as sent: with `:port` unless it is the scheme's default.
    public var hostHeader: String
    /// The path (`/` when none).
    public var path: String

    /// The regional AWS endpoint.
    public init(region: String) {
        self.url = "https://ec2.\(region).amazonaws.com/"
        self.host = "ec2.\(region).amazonaws.com"
        self.hostHeader = self.host
        self.path = "/"
    }

    /// Parses an `http://` or `https://` URL; `nil` if it is not one.
    public init?(url text: String) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
            components.query == nil
        else { return nil }
        let bareHost = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let defaultPort = scheme == "https" ? 443 : 80
        let bracketed = bareHost.contains(":") ? "[\(bareHost)]" : bareHost
        self.host = bareHost
        if let port = components.port, port != defaultPort {
            self.hostHeader = "\(bracketed):\(port)"
        } else {
            self.hostHeader = bracketed
        }
        self.path = components.path.isEmpty ? "/" : components.path
        self.url = "\(scheme)://\(self.hostHeader)\(self.path)"
    }

    /// Whether the endpoint is on this host (`localhost`, 127.0.0.0/8, `::1`): a fake or test cloud, whose
    /// instance addresses must never be dialled.
    public var isLoopback: Bool { DialPolicy.isOnThisHost(self.host) }

    public var description: String { self.url }
}
