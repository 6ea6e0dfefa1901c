import ArgumentParser
import ArvadosAPI
import DispatchConfig
import Foundation
import TLSSupport

/// Where the container API is and which token to use, for the commands that act as API clients.
///
/// An explicit `--config` names the cluster: its `Services.Controller.ExternalURL` and `SystemRootToken`.
/// Otherwise `ARVADOS_API_HOST` and `ARVADOS_API_TOKEN` (from the environment or a settings file, see
/// ``ClientSettings``), as with every Arvados client; whatever they leave unset comes from
/// `$DISPATCH_CLOUD_CONFIG` or a default configuration file.
struct APIOptions: ParsableArguments {
    @OptionGroup var configOptions: ConfigOptions

    @Option(
        name: .customLong("ca-file"),
        help: ArgumentHelp(
            "PEM file of the CA to trust for an https:// API instead of the system's roots.",
            discussion: """
                Defaults to $ARVADOS_API_CA, then, when the API address comes from the configuration, the private \
                CA at the end of its TLS.Certificate chain (dispatch-cloud tls init writes it there).
                """,
            valueName: "file"
        )
    )
    var caFile: String?

    /// The client of the API these options name; prints one line and exits 2 when they name none.
    func connect() throws -> APIConnection {
        let settings = ClientSettings.current()
        var host = ""
        var token = ""
        var hostOrigin = "ARVADOS_API_HOST"
        var caPEM: String?
        do throws(ArvadosAPIError) {
            if let caFile = self.caFile {
                caPEM = try ArvadosClient.caPEM(Self.absolute(caFile), source: "--ca-file")
            } else if let ca = settings[ArvadosClient.caVariable] {
                caPEM = try ArvadosClient.caPEM(Self.absolute(ca))
            }
        } catch {
            throw usageFailure(error.message)
        }
        if self.configOptions.path == nil {
            host = settings["ARVADOS_API_HOST"] ?? ""
            token = settings["ARVADOS_API_TOKEN"] ?? ""
        }
        if host.isEmpty || token.isEmpty {
            guard let source = self.configOptions.source(settings) else {
                throw usageFailure(
                    "no API to talk to: set ARVADOS_API_HOST and ARVADOS_API_TOKEN (in the environment or "
                        + "\(settings.configHome)/dispatch-cloud/settings.conf), or name a cluster configuration: "
                        + settings.howToNameConfig
                )
            }
            let config = try ConfigOptions.load(source).config
            if host.isEmpty {
                host = config.services.controller.externalURL
                hostOrigin = "Services.Controller.ExternalURL in \(source.path)"
                if caPEM == nil, !config.tls.certificate.isEmpty, !config.tls.key.isEmpty {
                    caPEM = try? ServerIdentity.load(certificate: config.tls.certificate, key: config.tls.key.value)
                        .privateCAPEM
                }
            }
            if token.isEmpty { token = config.systemRootToken.value }
            guard !host.isEmpty else {
                throw usageFailure(
                    "no API address: set Services.Controller.ExternalURL in \(source.path), or ARVADOS_API_HOST"
                )
            }
            guard !token.isEmpty else {
                throw usageFailure("no API token: set SystemRootToken in \(source.path), or ARVADOS_API_TOKEN")
            }
        }
        let endpoint: APIEndpoint
        do {
            endpoint = try APIEndpoint(host, insecure: Self.isTrue(settings["ARVADOS_API_HOST_INSECURE"]))
        } catch {
            throw usageFailure("\(hostOrigin): \(error.message)")
        }
        if let caPEM {
            guard endpoint.url.scheme == "https" else {
                throw usageFailure("a CA to trust is given but the API address \(host) is not https://")
            }
            do throws(ArvadosAPIError) {
                let client = try ArvadosClient(
                    baseURL: endpoint.url,
                    token: token,
                    trustingCA: caPEM,
                    retryConnections: false
                )
                return APIConnection(client: client, endpoint: endpoint)
            } catch {
                throw usageFailure(error.message)
            }
        }
        if endpoint.insecure {
            printToStandardError(
                "warning: ARVADOS_API_HOST_INSECURE is set: the API's certificate is not checked"
            )
            return APIConnection(
                client: .skippingCertificateVerification(baseURL: endpoint.url, token: token),
                endpoint: endpoint
            )
        }
        guard
            let client = ArvadosClient(
                environment: ["ARVADOS_API_HOST": endpoint.url.absoluteString, "ARVADOS_API_TOKEN": token],
                lightweight: true
            )
        else {
            throw usageFailure("\(hostOrigin): \(host) is not a valid API address")
        }
        return APIConnection(client: client, endpoint: endpoint)
    }

    /// Arvados's truthy spellings of a boolean variable.
    static func isTrue(_ value: String?) -> Bool {
        guard let value else { return false }
        return ["1", "true", "yes", "on", "t", "y"].contains(value.lowercased())
    }

    /// A relative file path made absolute (PEM text is returned as it is).
    static func absolute(_ value: String) -> String {
        if value.hasPrefix("/") || value.hasPrefix("file://") || value.contains("-----BEGIN") { return value }
        return FileManager.default.currentDirectoryPath + "/" + value
    }
}

/// An API address as Arvados users write it: `host[:port]` (meaning HTTPS), or a URL with its scheme.
struct APIEndpoint: Sendable, Equatable {
    struct Invalid: Error {
        var message: String
    }

    /// The API root.
    var url: URL
    /// `host:port` as written, for messages.
    var hostAndPort: String
    /// Certificates are not checked (`ARVADOS_API_HOST_INSECURE`).
    var insecure: Bool

    init(_ text: String, insecure: Bool = false) throws(Invalid) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let root = trimmed.contains("://") ? trimmed : "https://\(trimmed)"
        guard let url = URL(string: root), let scheme = url.scheme?.lowercased(), let host = url.host,
            !host.isEmpty
        else {
            throw Invalid(
                message: "\"\(text)\" is not an API address (write host:port, https://host:port or http://host:port)"
            )
        }
        guard scheme == "http" || scheme == "https" else {
            throw Invalid(message: "\"\(text)\": the API address must be http:// or https://, not \(scheme)://")
        }
        self.url = url
        let shownHost = host.contains(":") ? "[\(host)]" : host
        self.hostAndPort = url.port.map { "\(shownHost):\($0)" } ?? shownHost
        self.insecure = insecure && scheme == "https"
    }

    /// The root without a trailing slash, for messages.
    var display: String {
        var text = self.url.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}

/// A client of the container API and what it needs to explain failures.
struct APIConnection: Sendable {
    var client: ArvadosClient
    var endpoint: APIEndpoint

    /// One line for people: what was tried and why it failed.
    func explain(_ error: ArvadosAPIError) -> String {
        let api = self.endpoint.display
        if error.code == .transport {
            // The transport's message starts with the request ("GET /arvados/v1/…: "); keep the reason.
            let reason =
                error.message.range(of: ": ").map { String(error.message[$0.upperBound...]) } ?? error.message
            let lowered = reason.lowercased()
            if lowered.contains("wrong_version_number") || lowered.contains("wrong version number")
                || lowered.contains("http_request") || lowered.contains("unknown protocol")
            {
                return "the API at \(self.endpoint.hostAndPort) speaks plain HTTP, not HTTPS: write "
                    + "ARVADOS_API_HOST=http://\(self.endpoint.hostAndPort)"
            }
            if lowered.contains("refused") { return "cannot connect to the API at \(api): connection refused" }
            if lowered.contains("resolve") || lowered.contains("unknown host") {
                return "cannot connect to the API at \(api): unknown host \(self.endpoint.url.host ?? "")"
            }
            if lowered.contains("timed out") { return "cannot connect to the API at \(api): timed out" }
            return "cannot talk to the API at \(api): \(reason)"
        }
        guard let status = error.status else { return "the API at \(api): \(error.message)" }
        switch status {
        case 401:
            return "the API at \(api) did not accept the token (401): check ARVADOS_API_TOKEN"
        default:
            return "the API at \(api) answered \(status): \(error.message)"
        }
    }

    /// Prints the explanation and fails the command with status 1.
    func failure(_ error: ArvadosAPIError) -> ExitCode {
        runtimeFailure(self.explain(error))
    }
}
