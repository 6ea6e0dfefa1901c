public import ArvadosAPI
import Foundation
import Synchronization

/// A container API transport that passes every request to `base` and, once, runs a callback after a container
/// list request was answered and before the answer reaches the client: something that happens while a queue's
/// poll is in flight, between its list calls and its merge.
public final class ListHookTransport<Base: ArvadosTransport>: ArvadosTransport {
    private let base: Base
    private let hook = Mutex<(match: String, body: @Sendable () async -> Void)?>(nil)

    /// - Parameter base: where every request goes.
    public init(_ base: Base) {
        self.base = base
    }

    /// Runs `body` once, after the answer to the next container list request (`GET /arvados/v1/containers`)
    /// whose URL contains `match`: a word of its filters or order, such as `Queued`, matches as it is.
    public func afterList(containing match: String, _ body: @escaping @Sendable () async -> Void) {
        self.hook.withLock { $0 = (match, body) }
    }

    /// Whether a hook is set that has not run yet.
    public var isPending: Bool { self.hook.withLock { $0 != nil } }

    public func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
        let response = try await self.base.send(request)
        guard request.method == "GET", request.url.path.hasSuffix("/arvados/v1/containers") else { return response }
        let url = request.url.absoluteString
        let body = self.hook.withLock { hook -> (@Sendable () async -> Void)? in
            guard let match = hook?.match, url.contains(match) else { return nil }
            defer { hook = nil }
            return hook?.body
        }
        await body?()
        return response
    }
}
