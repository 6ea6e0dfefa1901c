import ArgumentParser
import ArvadosAPI
import DispatchConfig
import Foundation

/// Where the container API is and which token to use, for the commands that act as API clients.
///
/// `ARVADOS_API_HOST` and `ARVADOS_API_TOKEN` win, as with every Arvados client; otherwise the API is
/// `Services.Controller.ExternalURL` of the configuration and the token its `SystemRootToken`.
struct APIOptions: ParsableArguments {
    @OptionGroup var configOptions: ConfigOptions

    func client() throws -> ArvadosClient {
        let environment = ProcessInfo.processInfo.environment
        var host = environment["ARVADOS_API_HOST"] ?? ""
        var token = environment["ARVADOS_API_TOKEN"] ?? ""
        if host.isEmpty || token.isEmpty {
            let config = try self.configOptions.load().config
            if host.isEmpty { host = config.services.controller.externalURL }
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
        guard let client = ArvadosClient(environment: ["ARVADOS_API_HOST": host, "ARVADOS_API_TOKEN": token]) else {
            printToStandardError("error: \(host) is not a valid API address")
            throw ExitCode(2)
        }
        return client
    }
}

extension ArvadosAPIError {
    /// Prints the error and fails the command with status 1.
    func exit() -> ExitCode {
        printToStandardError("error: \(self.description)")
        return ExitCode(1)
    }
}
