import Foundation
import HTTPServing
import Hummingbird
import HummingbirdTLS
public import Logging
import NIOCore
public import ServiceLifecycle
import Synchronization
public import TLSSupport

/// The management API on one listen address, as a `Service` for the daemon's `ServiceGroup`.
///
/// With port 0 it listens on a free port, which ``listeningPort()`` reports. Graceful shutdown stops it.
public struct ManagementServer<Control: DispatcherControl>: Service {
    /// The address to listen on, such as `127.0.0.1` or `0.0.0.0`.
    public var host: String
    /// The port to listen on; 0 picks a free one.
    public var port: Int
    private let control: Control
    private let token: String
    private let metrics: MetricsRegistry?
    private let logger: Logger
    private let listening = ListeningEvent<ManagementError> {
        ManagementError(.internalError, "Waiting for the management server failed", cause: $0)
    }
    private let tls: ServerIdentity?

    /// - Parameters:
    ///   - token: `ManagementToken`; empty refuses every API request (the dashboard page is still served).
    ///   - tls: the certificate and key to serve HTTPS with; `nil` serves plain HTTP.
    public init(
        host: String,
        port: Int,
        control: Control,
        token: String,
        metrics: MetricsRegistry?,
        logger: Logger,
        tls: ServerIdentity? = nil
    ) {
        self.tls = tls
        self.host = host
        self.port = port
        self.control = control
        self.token = token
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        let router = ManagementRoutes.router(
            control: self.control,
            token: self.token,
            metrics: self.metrics,
            logger: self.logger,
            notice: { [tls = self.tls] in tls.flatMap { Self.expiryNotice($0) } }
        )
        let listening = self.listening
        let logger = self.logger
        let tlsConfiguration = self.tls?.serverConfiguration()
        let application = Application(
            router: router,
            server: try tlsConfiguration.map { try .tls(tlsConfiguration: $0) } ?? .http1(),
            configuration: .init(address: .hostname(self.host, port: self.port)),
            onServerRunning: { channel in
                logger.info(
                    "Management API listening",
                    metadata: ["management.address": "\(channel.localAddress.map { "\($0)" } ?? "?")"]
                )
                listening.succeed(channel.localAddress?.port ?? 0)
            },
            logger: self.logger
        )
        do {
            try await application.run()
            listening.fail(ManagementError(.unavailable, "The management server stopped"))
        } catch {
            listening.fail(ManagementError(.unavailable, "The management server failed", cause: error))
            throw error
        }
    }

    /// The dashboard's warning when the served certificate expires within 14 days, or has expired.
    static func expiryNotice(_ identity: ServerIdentity, now: Date = Date()) -> String? {
        let expiry = identity.notValidAfter
        let left = expiry.timeIntervalSince(now)
        guard left < 14 * 86400 else { return nil }
        let when = expiry.formatted(.iso8601)
        if left <= 0 { return "The TLS certificate expired at \(when): renew it and send SIGHUP." }
        let days = Int(left / 86400)
        return "The TLS certificate expires in \(days) day\(days == 1 ? "" : "s") (\(when)): renew it and send SIGHUP."
    }

    /// The port the server listens on, once it does; throws if it stopped or failed first.
    public func listeningPort() async throws(ManagementError) -> Int {
        try await self.listening.port()
    }
}
