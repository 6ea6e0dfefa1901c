public import ArvadosAPI
import Foundation
import Synchronization

/// A container API transport that passes every request to `base` and runs a callback once at a chosen moment of
/// a queue's poll: after a container list request was answered and before the answer reaches the client
/// (between the poll's list calls and its merge), or before a request whose URL names something (a container's
/// mounts being fetched).
public final class ListHookTransport<Base: ArvadosTransport>: ArvadosTransport {
    private let base: Base
    private let hook = Mutex<(match: String, body: @Sendable () async -> Void)?>(nil)
    private let before = Mutex<(match: String, body: @Sendable () async -> Void)?>(nil)
    private let after = Mutex<(match: String, body: @Sendable () async -> Void)?>(nil)

    /// - Parameter base: where every request goes.
    public init(_ base: Base) {
        self.base = base
    }

    /// Runs `body` once, after the answer to the next container list request (`GET /arvados/v1/containers`)
    /// whose URL contains `match`: a word of its filters or order, such as `Queued`, matches as it is.
    public func afterList(containing match: String, _ body: @escaping @Sendable () async -> Void) {
        self.hook.withLock { $0 = (match, body) }
    }

    /// Runs `body` once, before the next request of any kind whose URL contains `match`.
    public func beforeRequest(containing match: String, _ body: @escaping @Sendable () async -> Void) {
        self.before.withLock { $0 = (match, body) }
    }

    /// Runs `body` once, after the answer to the next request of any kind whose URL contains `match` and before
    /// the caller gets the answer.
    public func afterRequest(containing match: String, _ body: @escaping @Sendable () async -> Void) {
        self.after.withLock { $0 = (match, body) }
    }

    /// Whether a hook is set that has not run yet.
    public var isPending: Bool {
        self.hook.withLock { $0 != nil } || self.before.withLock { $0 != nil } || self.after.withLock { $0 != nil }
    }

    public func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
        let url = request.url.absoluteString
        await Self.take(self.before, matching: url)?()
        let response = try await self.base.send(request)
        await Self.take(self.after, matching: url)?()
        guard request.method == "GET", request.url.path.hasSuffix("/arvados/v1/containers") else { return response }
        await Self.take(self.hook, matching: url)?()
        return response
    }

    /// The hook's body if `url` contains its match, clearing it so that it runs once.
    private static func take(
        _ hook: borrowing Mutex<(match: String, body: @Sendable () async -> Void)?>,
        matching url: String
    ) -> (@Sendable () async -> Void)? {
        hook.withLock { hook in
            guard let match = hook?.match, url.contains(match) else { return nil }
            defer { hook = nil }
            return hook?.body
        }
    }
}
