public import Foundation
import HTTPTypes
import Hummingbird
public import Logging
import NIOCore
public import ServiceLifecycle
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An HTTP proxy on 127.0.0.1 in front of one upstream server (the container API), which a test can tell to
/// answer `503 Service Unavailable` for a while, as an overloaded Arvados controller does.
///
/// Point the dispatcher's `Services.Controller.ExternalURL` at the proxy and let the embedded API listen on
/// its `InternalURLs`: the dispatcher's calls then go through the proxy, and a 503 burst reaches its queue
/// without any test hook in the API server. Run it as a `Service`; ``listeningPort()`` reports its port.
public final class FaultInjectingProxy: Service, Sendable {
    /// What the proxy has done so far.
    public struct Counts: Sendable, Equatable {
        /// Requests passed to the upstream server.
        public var forwarded = 0
        /// Requests answered 503 by the proxy itself.
        public var refused = 0
    }

    private struct State {
        var refuseNext = 0
        var refuseUntil: ContinuousClock.Instant?
        var counts = Counts()
    }

    /// The upstream server's root, such as `http://127.0.0.1:9005`.
    public let upstream: URL
    private let state = Mutex(State())
    private let port = Mutex<(value: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))
    private let logger: Logger

    public init(upstream: URL, logger: Logger = Logger(label: "fault-injecting-proxy")) {
        self.upstream = upstream
        self.logger = logger
    }

    /// Answers the next `count` requests with 503.
    public func refuseNext(_ count: Int) {
        self.state.withLock { $0.refuseNext += count }
    }

    /// Answers every request with 503 for `duration` from now.
    public func refuse(for duration: Duration) {
        self.state.withLock { $0.refuseUntil = ContinuousClock.now.advanced(by: duration) }
    }

    /// The requests forwarded and refused so far.
    public var counts: Counts { self.state.withLock { $0.counts } }

    /// The port the proxy listens on, once it does.
    public func listeningPort() async -> Int {
        await withCheckedContinuation { continuation in
            let port = self.port.withLock { state -> Int? in
                if let value = state.value { return value }
                state.waiters.append(continuation)
                return nil
            }
            if let port { continuation.resume(returning: port) }
        }
    }

    public func run() async throws {
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            try await self.respond(to: request)
        }
        let application = Application(
            responder: responder,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let waiters = self.port.withLock { state in
                    state.value = port
                    defer { state.waiters = [] }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume(returning: port) }
            },
            logger: self.logger
        )
        try await application.run()
    }

    /// Whether to refuse this request; counts it either way.
    private func shouldRefuse() -> Bool {
        self.state.withLock { state in
            var refuse = false
            if state.refuseNext > 0 {
                state.refuseNext -= 1
                refuse = true
            } else if let until = state.refuseUntil, ContinuousClock.now < until {
                refuse = true
            }
            if refuse { state.counts.refused += 1 } else { state.counts.forwarded += 1 }
            return refuse
        }
    }

    private func respond(to incoming: Request) async throws -> Response {
        if self.shouldRefuse() {
            return Response(
                status: .serviceUnavailable,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"errors":["injected 503 Service Unavailable"]}"#))
            )
        }
        var request = incoming
        let body = try await request.collectBody(upTo: 64 << 20)
        guard let url = URL(string: self.upstream.absoluteString + (incoming.uri.description)) else {
            return Response(status: .badRequest)
        }
        var upstreamRequest = URLRequest(url: url, timeoutInterval: 60)
        upstreamRequest.httpMethod = incoming.method.rawValue
        for field in incoming.headers where field.name != .contentLength {
            upstreamRequest.addValue(field.value, forHTTPHeaderField: field.name.rawName)
        }
        if body.readableBytes > 0 { upstreamRequest.httpBody = Data(body.readableBytesView) }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: upstreamRequest)
        } catch {
            return Response(status: .badGateway)
        }
        guard let http = response as? HTTPURLResponse else { return Response(status: .badGateway) }
        var headers = HTTPFields()
        if let contentType = http.value(forHTTPHeaderField: "Content-Type") {
            headers[.contentType] = contentType
        }
        return Response(
            status: .init(code: http.statusCode),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}
