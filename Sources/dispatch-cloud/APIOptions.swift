import ArgumentParser
import ArvadosAPI
import DispatchConfig
import Foundation
import TLSSupport

/// Where the container API is and which token to use, for the commands that act as API clients.
///
/// `ARVADOS_API_HOST` and `ARVADOS_API_TOKEN` win, as with every Arvados client; otherwise the API is
/// `Services.Controller.ExternalURL` of the configuration and the token its `SystemRootToken`.
struct APIOptions: ParsableArguments {
    @OptionGroup var configOptions: ConfigOptions

    @Option(
        name: .customLong("ca-file"),
        help: ArgumentHelp(
            "PEM file of the CA to trust for an https:// API instead of the system's roots.",
            discussion: """
                Defaults to $ARVADOS_API_CA, then, when the API address comes from the configuration, the private                 CA at the end of its TLS.Certificate chain (dispatch-cloud tls init writes it there).
                """,
            valueName: "file"
        )
    )
    var caFile: String?

    func client() throws -> ArvadosClient {
        let environment = ProcessInfo.processInfo.environment
        var host = environment["ARVADOS_API_HOST"] ?? ""
        var token = environment["ARVADOS_API_TOKEN"] ?? ""
        var caPEM: String?
        do throws(ArvadosAPIError) {
            if let caFile = self.caFile {
                caPEM = try ArvadosClient.caPEM(Self.absolute(caFile), source: "--ca-file")
            } else if let ca = environment[ArvadosClient.caVariable], !ca.isEmpty {
                caPEM = try ArvadosClient.caPEM(Self.absolute(ca))
            }
        } catch {
            printToStandardError("error: \(error.message)")
            throw ExitCode(2)
        }
        if host.isEmpty || token.isEmpty {
            let config = try self.configOptions.load().config
            if host.isEmpty {
                host = config.services.controller.externalURL
                if caPEM == nil, !config.tls.certificate.isEmpty, !config.tls.key.isEmpty {
                    caPEM = try? ServerIdentity.load(certificate: config.tls.certificate, key: config.tls.key.value)
                        .privateCAPEM
                }
            }
            if token.isEmpty { token = config.systemRootToken.value }
        }
        guard !host.isEmpty else {
            printToStandardError(
                "error: no API address: set Services.Controller.ExternalURL in the configuration or ARVADOS_API_HOST"
            )
            throw ExitCode(2)
        }
        guard !token.isEmpty else {
            printToStandardError("error: no API token: set SystemRootToken in the configuration or ARVADOS_API_TOKEN")
            throw ExitCode(2)
        }
        if let caPEM {
            let root = host.contains("://") ? host : "https://\(host)"
            guard let url = URL(string: root), url.scheme == "https" else {
                printToStandardError("error: a CA to trust is given but the API address \(host) is not https://")
                throw ExitCode(2)
            }
            do throws(ArvadosAPIError) {
                return try ArvadosClient(baseURL: url, token: token, trustingCA: caPEM, retryConnections: false)
            } catch {
                printToStandardError("error: \(error.message)")
                throw ExitCode(2)
            }
        }
        guard let client = ArvadosClient(environment: ["ARVADOS_API_HOST": host, "ARVADOS_API_TOKEN": token]) else {
            printToStandardError("error: \(host) is not a valid API address")
            throw ExitCode(2)
        }
        return client
    }

    /// A relative file path made absolute (PEM text is returned as it is).
    static func absolute(_ value: String) -> String {
        if value.hasPrefix("/") || value.hasPrefix("file://") || value.contains("-----BEGIN") { return value }
        return FileManager.default.currentDirectoryPath + "/" + value
    }
}

extension ArvadosAPIError {
    /// Prints the error and fails the command with status 1.
    func exit() -> ExitCode {
        printToStandardError("error: \(self.description)")
        return ExitCode(1)
    }
}
