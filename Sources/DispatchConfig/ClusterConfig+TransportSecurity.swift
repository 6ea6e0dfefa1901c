import DispatchModel
import Foundation

/// TLS material and the rule that no token crosses a network in clear: `TLS.Certificate` and `TLS.Key`, the
/// scheme each served `InternalURLs` entry says, and `DispatchCloud.InsecurePlainHTTPOnPrivateNetwork`.
extension ClusterConfig {
    /// The URLs this process listens on, with the key path each comes from: the management API's first
    /// `Services.DispatchCloud.InternalURLs` entry and, in standalone mode, the embedded API's first
    /// `Services.Controller.InternalURLs` entry (else its `ExternalURL`).
    public var servedURLs: [(path: String, url: String)] {
        var served: [(path: String, url: String)] = []
        if self.dispatchCloud.embeddedContainerAPI {
            if let first = self.services.controller.internalURLs.sorted().first {
                served.append(("Services.Controller.InternalURLs", first.effectiveListenURL))
            } else if !self.services.controller.externalURL.isEmpty {
                served.append(("Services.Controller.ExternalURL", self.services.controller.externalURL))
            }
        }
        if let first = self.services.dispatchCloud.internalURLs.sorted().first {
            served.append(("Services.DispatchCloud.InternalURLs", first.effectiveListenURL))
        }
        return served
    }

    /// Whether the configured driver's instances are this host (loopback, simulated, or EC2 at a fake endpoint on
    /// this host), so runners reach the API over loopback.
    public var instancesAreLocal: Bool {
        let cloudVMs = self.containers.cloudVMs
        switch cloudVMs.driver {
        case "loopback", "simulated":
            return true
        case "ec2":
            guard case .object(let members) = cloudVMs.driverParameters.raw,
                let endpoint = (members["Endpoint"] ?? members["EndpointURL"])?.stringValue, !endpoint.isEmpty
            else { return false }
            let host = URL(string: endpoint)?.host ?? URL(string: "https://" + endpoint)?.host
            return host.map(Self.isLoopbackHost) ?? false
        default:
            return false
        }
    }

    /// The plain-HTTP problems `serve` refuses unless `InsecurePlainHTTPOnPrivateNetwork` is on: each names the
    /// key at fault. Empty when every token that leaves this host is inside TLS.
    public var plainHTTPExposures: [(path: String, message: String)] {
        var exposures: [(path: String, message: String)] = []
        for served in self.servedURLs {
            guard let url = URL(string: served.url), url.scheme?.lowercased() == "http", let host = url.host,
                !Self.isLoopbackHost(host)
            else { continue }
            exposures.append(
                (
                    served.path,
                    "plain HTTP on the non-loopback address \(host): tokens would cross the network in clear; use "
                        + "https:// with TLS.Certificate and TLS.Key (dispatch-cloud tls init)"
                )
            )
        }
        let external = self.services.controller.externalURL
        if !self.instancesAreLocal, let url = URL(string: external), url.scheme?.lowercased() == "http" {
            exposures.append(
                (
                    "Services.Controller.ExternalURL",
                    "runners on \(self.containers.cloudVMs.driver) instances would send the dispatcher's token to "
                        + "this http:// address in clear; use https://"
                )
            )
        }
        return exposures
    }

    /// Whether any served URL is `https://`: the certificate and key are used.
    public var servesHTTPS: Bool {
        self.servedURLs.contains { URL(string: $0.url)?.scheme?.lowercased() == "https" }
    }

    /// `localhost`, `127.0.0.0/8` or `::1`.
    public static func isLoopbackHost(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" || bare == "::1" { return true }
        let octets = bare.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    static func readTLSMaterial(_ section: Section, into tls: inout TLS, reader: ConfigReader) {
        for key in ["Certificate", "Key"] {
            guard let value = section.string(key), !value.isEmpty else { continue }
            let inline = value.drop(while: { $0.isWhitespace }).hasPrefix("-----BEGIN")
            let file = value.hasPrefix("file:///") && value.count > "file:///".count
            let path = value.hasPrefix("/") && value.count > 1
            guard inline || file || path else {
                reader.error(
                    section.path(key),
                    "must be a file:///path URL, an absolute path or inline PEM (-----BEGIN …)",
                    line: section.line(of: key)
                )
                continue
            }
            if key == "Certificate" { tls.certificate = value } else { tls.key = Secret(value) }
        }
    }

    /// Errors for a certificate without a key (or the reverse), an `https://` listen URL without them, and
    /// them with no `https://` listen URL; warnings for every plain-HTTP exposure.
    static func checkTransportSecurity(_ config: ClusterConfig, _ cluster: Section, reader: ConfigReader) {
        guard reader.checksTransportSecurity else { return }
        let tlsLine = cluster.line(of: "TLS")
        let tlsPath = cluster.path("TLS")
        if config.tls.certificate.isEmpty != config.tls.key.isEmpty {
            let missing = config.tls.certificate.isEmpty ? "Certificate" : "Key"
            let present = missing == "Key" ? "Certificate" : "Key"
            reader.error("\(tlsPath).\(missing)", "is empty but TLS.\(present) is set; set both", line: tlsLine)
        }
        let hasMaterial = !config.tls.certificate.isEmpty && !config.tls.key.isEmpty
        let served = config.servedURLs
        var anyHTTPS = false
        for entry in served {
            guard let scheme = URL(string: entry.url)?.scheme?.lowercased() else { continue }
            if scheme == "https" {
                anyHTTPS = true
                if !hasMaterial {
                    reader.error(
                        cluster.path(entry.path),
                        "\(entry.url) is https:// but TLS.Certificate and TLS.Key are not set "
                            + "(dispatch-cloud tls init makes them)",
                        line: cluster.line(of: "Services")
                    )
                }
            }
        }
        if hasMaterial, !served.isEmpty, !anyHTTPS {
            reader.error(
                "\(tlsPath).Certificate",
                "is set but no served InternalURLs entry is https://, so it would be ignored",
                line: tlsLine
            )
        }
        // With the opt-in, serve logs a warning at each start instead.
        guard !config.dispatchCloud.insecurePlainHTTPOnPrivateNetwork else { return }
        for exposure in config.plainHTTPExposures {
            reader.warning(
                cluster.path(exposure.path),
                exposure.message
                    + "; serve refuses this unless DispatchCloud.InsecurePlainHTTPOnPrivateNetwork is true",
                line: cluster.line(of: "Services")
            )
        }
    }
}
