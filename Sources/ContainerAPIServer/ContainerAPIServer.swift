import DispatchModel
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
public import ServiceLifecycle
import Synchronization
import TLSSupport

/// The embedded Arvados-compatible container API: containers, logs, the token check and the discovery document,
/// stored in SQLite under the data directory.
///
/// Run it as a `Service` in the dispatcher's `ServiceGroup`; graceful shutdown stops it. With port 0 it listens on a
/// free port, which ``listeningPort()`` reports.
///
/// Routes (all but discovery need `Authorization: Bearer <token>`, `OAuth2 <token>` or `api_token`):
/// - `GET /discovery/v1/apis/arvados/v1/rest`
/// - `GET|POST /arvados/v1/containers` (list; create with `{"container": {...}}`)
/// - `GET|PUT|PATCH /arvados/v1/containers/{uuid}`, `POST /arvados/v1/containers/{uuid}/lock|unlock`
/// - `GET /arvados/v1/api_client_authorizations/current`
/// - `GET|POST /arvados/v1/logs` (list; create with `{"log": {...}}`), `GET /arvados/v1/logs/{uuid}`
///
/// A `POST` to a list path with `_method=GET` or `X-Http-Method-Override: GET` lists, for long queries.
public struct ContainerAPIServer: Service {
    public let configuration: Configuration
    /// The store behind the server, for callers in the same process.
    public let store: ContainerStore
    /// Every committed container change (creates, updates, locks, unlocks), in commit order: subscribe to learn
    /// of new work and of runners' updates at once.
    public var changes: ChangeFeed { self.store.changes }
    private let logger: Logger
    private let listening = ListeningState()

    /// Opens the store; the server listens only once ``run()`` is called.
    public init(configuration: Configuration, logger: Logger) throws(ContainerAPIError) {
        guard configuration.clusterID.isWellFormed else {
            throw ContainerAPIError(
                .invalidConfiguration,
                "The cluster ID \"\(configuration.clusterID)\" is not five lowercase letters or digits"
            )
        }
        self.configuration = configuration
        self.logger = logger
        self.store = try ContainerStore(
            dataDirectory: configuration.dataDirectory,
            clusterID: configuration.clusterID,
            admission: configuration.admission
        )
    }

    public func run() async throws {
        let handlers = RequestHandlers(
            configuration: self.configuration,
            store: self.store,
            tokens: TokenDirectory(
                clusterID: self.configuration.clusterID,
                systemRootToken: self.configuration.systemRootToken,
                submitterTokens: self.configuration.submitterTokens
            ),
            logger: self.logger
        )
        let listening = self.listening
        let logger = self.logger
        let http1 = HTTPServerBuilder.http1(
            configuration: .init(
                httpDecoderConfiguration: .init(
                    maxHeaderFieldSize: RequestLimits.maxHeadBytes,
                    maxHeaderListSize: RequestLimits.maxHeadBytes
                )
            )
        )
        let server =
            try self.configuration.tls.map {
                try HTTPServerBuilder.tls(http1, tlsConfiguration: $0.serverConfiguration())
            } ?? http1
        let application = Application(
            router: handlers.router(),
            server: server,
            configuration: .init(address: .hostname(self.configuration.host, port: self.configuration.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info(
                    "Container API listening",
                    metadata: ["api.address": "\(channel.localAddress.map { "\($0)" } ?? "?")"]
                )
                listening.succeed(port)
            },
            logger: self.logger
        )
        do {
            try await application.run()
            listening.fail(ContainerAPIError(.internal, "The container API server stopped"))
        } catch {
            listening.fail(ContainerAPIError(.internal, "The container API server failed", cause: error))
            throw error
        }
    }

    /// The port the server listens on, once it does; throws if the server stopped or failed first.
    public func listeningPort() async throws(ContainerAPIError) -> Int {
        try await self.listening.port()
    }
}

/// The one-shot "listening on port N" event, which any number of tasks may wait for.
private final class ListeningState: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Int, any Error>])
        case listening(Int)
        case stopped(ContainerAPIError)
    }

    private let state = Mutex(State.waiting([]))

    func succeed(_ port: Int) {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Int, any Error>] in
            guard case .waiting(let waiters) = state else { return [] }
            state = .listening(port)
            return waiters
        }
        for waiter in waiters {
            waiter.resume(returning: port)
        }
    }

    func fail(_ error: ContainerAPIError) {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Int, any Error>] in
            switch state {
            case .waiting(let waiters):
                state = .stopped(error)
                return waiters
            case .listening:
                state = .stopped(error)
                return []
            case .stopped:
                return []
            }
        }
        for waiter in waiters {
            waiter.resume(throwing: error)
        }
    }

    func port() async throws(ContainerAPIError) -> Int {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let result = self.state.withLock { state -> Result<Int, ContainerAPIError>? in
                    switch state {
                    case .waiting(var waiters):
                        waiters.append(continuation)
                        state = .waiting(waiters)
                        return nil
                    case .listening(let port):
                        return .success(port)
                    case .stopped(let error):
                        return .failure(error)
                    }
                }
                if let result {
                    continuation.resume(with: result)
                }
            }
        } catch let error as ContainerAPIError {
            throw error
        } catch {
            throw ContainerAPIError(.internal, "Waiting for the server failed", cause: error)
        }
    }
}
