import DispatchModel
import HTTPServing
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
/// Routes (all but discovery need a token, by Arvados's rule, `ArvadosCredentials` in HTTPServing):
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
    private let listening = ListeningEvent<ContainerAPIError> {
        ContainerAPIError(.internal, "Waiting for the server failed", cause: $0)
    }

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
            // Requests run on their own threads: the dispatcher's work on the cooperative pool never delays them.
            try await withTaskExecutorPreference(RequestExecutor.shared) {
                try await application.run()
            }
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
