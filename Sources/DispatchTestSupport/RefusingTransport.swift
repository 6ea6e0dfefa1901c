public import ArvadosAPI
import Synchronization

/// A container API transport that answers `503 Service Unavailable` while `refuses()` says so, and passes
/// every other request to `base`: an overloaded controller, for tests that keep the API in this process
/// (``FaultInjectingProxy`` does the same over HTTP).
public final class RefusingTransport<Base: ArvadosTransport>: ArvadosTransport {
    private let base: Base
    private let refuses: @Sendable () -> Bool
    private let refusedCount = Mutex(0)

    /// - Parameters:
    ///   - base: where accepted requests go.
    ///   - refuses: asked at every request; `true` answers it 503 without passing it on.
    public init(_ base: Base, refuses: @escaping @Sendable () -> Bool) {
        self.base = base
        self.refuses = refuses
    }

    /// The requests answered 503 so far.
    public var refused: Int { self.refusedCount.withLock { $0 } }

    public func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
        if self.refuses() {
            self.refusedCount.withLock { $0 += 1 }
            let body = Array(#"{"errors":["service unavailable (injected)"],"error_token":"refusing-transport"}"#.utf8)
            return ArvadosHTTPResponse(status: 503, body: body)
        }
        return try await self.base.send(request)
    }
}
