import ArgumentParser
import DispatchConfig
import Foundation

/// The `--config` option shared by every subcommand that reads the cluster configuration.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: [.customLong("config"), .customLong("config", withSingleDash: true)],
        help: ArgumentHelp(
            "Cluster configuration file (YAML).",
            discussion: "Defaults to $DISPATCH_CLOUD_CONFIG, then /etc/arvados/config.yml.",
            valueName: "file"
        )
    )
    var path: String?

    /// The file to read: the option, else the environment, else Arvados's default path.
    var resolvedPath: String {
        if let path = self.path { return path }
        if let fromEnvironment = ProcessInfo.processInfo.environment["DISPATCH_CLOUD_CONFIG"] {
            return fromEnvironment
        }
        return "/etc/arvados/config.yml"
    }

    /// Loads the configuration, printing warnings; on failure prints every error and exits with status 2.
    /// `checkingTransportSecurity: false` accepts https:// URLs without TLS material (for `tls init`).
    func load(checkingTransportSecurity: Bool = true) throws -> LoadedClusterConfig {
        let loaded: LoadedClusterConfig
        do {
            loaded = try ClusterConfig.load(
                contentsOfFile: self.resolvedPath,
                checkingTransportSecurity: checkingTransportSecurity
            )
        } catch {
            for warning in error.warnings { printToStandardError("warning: \(warning)") }
            if error.diagnostics.isEmpty { printToStandardError("error: \(error.message)") }
            for diagnostic in error.diagnostics { printToStandardError("error: \(diagnostic)") }
            throw ExitCode(2)
        }
        for warning in loaded.warnings { printToStandardError("warning: \(warning)") }
        return loaded
    }
}

/// Writes one line to standard error.
func printToStandardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
