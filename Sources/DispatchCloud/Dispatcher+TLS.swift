import DispatchConfig
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import TLSSupport
import UnixSignals

extension Dispatcher {
    /// Refuses plain HTTP where a token would cross a network: a non-loopback listen address or runners on
    /// remote instances given an `http://` API, unless `DispatchCloud.InsecurePlainHTTPOnPrivateNetwork`.
    static func checkTransportSecurity(_ config: ClusterConfig, logger: Logger) throws(DispatcherError) {
        if config.dispatchCloud.insecurePlainHTTPOnPrivateNetwork {
            for exposure in config.plainHTTPExposures {
                logger.warning(
                    "Tokens cross the network in clear: DispatchCloud.InsecurePlainHTTPOnPrivateNetwork is true",
                    metadata: ["key": "\(exposure.path)", "problem": "\(exposure.message)"]
                )
            }
            return
        }
        guard let exposure = config.plainHTTPExposures.first else { return }
        throw DispatcherError(
            .configuration,
            "\(exposure.path): \(exposure.message) (or set DispatchCloud.InsecurePlainHTTPOnPrivateNetwork: true "
                + "if the network is private)"
        )
    }

    /// `TLS.Certificate` and `TLS.Key`, loaded and checked, when both are set and a served URL is `https://`.
    static func serverIdentity(_ config: ClusterConfig) throws(DispatcherError) -> ServerIdentity? {
        guard !config.tls.certificate.isEmpty, !config.tls.key.isEmpty, config.servesHTTPS else { return nil }
        do throws(TLSError) {
            return try ServerIdentity(certificate: config.tls.certificate, key: config.tls.key.value)
        } catch {
            throw DispatcherError(.configuration, error.message)
        }
    }

    /// `ARVADOS_API_HOST` as runners get it: `host[:port]`, exactly what `crunch-run` expects from Arvados
    /// (it prepends `https://`). A URL with a path or query (which Arvados does not support) goes whole.
    static func runnerAPIHost(_ url: URL) -> String {
        let text = url.absoluteString.hasSuffix("/") ? String(url.absoluteString.dropLast()) : url.absoluteString
        guard url.path.isEmpty || url.path == "/", url.query == nil, let host = url.host else { return text }
        let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return url.port.map { "\(shownHost):\($0)" } ?? shownHost
    }

    /// `http` when runners must call a plain-HTTP API (the standalone case), sent as the top-level `APIScheme`
    /// of the runner configuration, a key `crunch-run` ignores; `nil` for HTTPS, Arvados's only scheme.
    static func runnerAPIScheme(_ url: URL) -> String? {
        url.scheme?.lowercased() == "http" ? "http" : nil
    }
}

/// Re-reads the servers' certificate and key on SIGHUP (new handshakes get the new ones; connections in flight
/// keep theirs) and keeps `arvados_tls_certificate_expiry_seconds` (the Unix time the certificate expires) and a
/// log warning within 14 days of it up to date.
struct CertificateReloader: Service {
    /// How long before expiry the dispatcher warns.
    static let warningWindow: TimeInterval = 14 * 86400
    static let metricName = "arvados_tls_certificate_expiry_seconds"

    let identity: ServerIdentity
    let metricsFactory: any MetricsFactory
    let logger: Logger

    func run() async throws {
        let gauge = Gauge(label: Self.metricName, factory: self.metricsFactory)
        self.report(gauge)
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                do throws(TLSError) {
                    try self.identity.reload()
                    self.logger.notice("TLS certificate re-read", metadata: ["tls.certificate": "\(self.source)"])
                } catch {
                    self.logger.error(
                        "TLS certificate not re-read: still serving the previous one",
                        metadata: ["error": "\(error.message)"]
                    )
                }
                self.report(gauge)
            }
        }
    }

    private var source: String {
        let value = self.identity.certificateValue
        return value.hasPrefix("file://") ? value : "inline PEM"
    }

    private func report(_ gauge: Gauge) {
        let expiry = self.identity.notValidAfter
        gauge.record(expiry.timeIntervalSince1970)
        let left = expiry.timeIntervalSinceNow
        if left < Self.warningWindow {
            self.logger.warning(
                left < 0 ? "The TLS certificate has expired" : "The TLS certificate expires within 14 days",
                metadata: ["tls.notValidAfter": "\(expiry)", "tls.certificate": "\(self.source)"]
            )
        }
    }
}
