import ArgumentParser
import DispatchConfig
import RemoteExecution
import SSHExecutor

/// `dispatch-cloud check-config`: load the configuration, report problems, print the effective settings.
///
/// On success prints the effective configuration (defaults filled in, secrets redacted) to stdout and each
/// warning as `warning: <keypath>: <message>` to stderr, and exits 0. On failure prints every error as
/// `error: <keypath>: <message>` to stderr and exits 2.
struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check the configuration and print the effective settings.",
        discussion: """
            Prints the effective configuration (defaults filled in, derived preemptible instance types \
            included, secrets shown as <redacted>) on standard output and warnings on standard error. \
            Exits with status 2, after listing every error, if the configuration cannot be used.
            """
    )

    @OptionGroup var configOptions: ConfigOptions

    func run() async throws {
        let loaded = try self.configOptions.load()
        if let problem = Self.privateKeyProblem(loaded.config) {
            printToStandardError("error: \(problem)")
            throw ExitCode(2)
        }
        let rendered: String
        do {
            rendered = try loaded.config.renderEffectiveYAML()
        } catch {
            printToStandardError("error: cannot render the effective configuration: \(error)")
            throw ExitCode(2)
        }
        print(rendered, terminator: rendered.hasSuffix("\n") ? "" : "\n")
    }

    /// Why `serve` would refuse `Containers.DispatchPrivateKey`, found with the parser `serve` uses; nil when
    /// the key is empty or parses. The message names the key and the problem, never the key itself.
    static func privateKeyProblem(_ config: ClusterConfig) -> String? {
        let key = config.containers.dispatchPrivateKey
        guard !key.isEmpty else { return nil }
        do throws(RemoteExecutionError) {
            _ = try OpenSSHPrivateKey.parse(configurationValue: key.value)
            return nil
        } catch {
            return "Clusters.\(config.clusterID).Containers.DispatchPrivateKey: \(error.message)"
        }
    }
}
