import ArgumentParser
import DispatchConfig
import Foundation

/// The `--config` option shared by every subcommand that reads the cluster configuration.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: [.customLong("config"), .customLong("config", withSingleDash: true)],
        help: ArgumentHelp(
            "Cluster configuration file (YAML).",
            discussion: """
                Defaults to $DISPATCH_CLOUD_CONFIG, then the first of ~/.config/dispatch-cloud/config.yml \
                ($XDG_CONFIG_HOME) and /etc/arvados/config.yml that exists.
                """,
            valueName: "file"
        )
    )
    var path: String?

    /// Where the configuration comes from, if anywhere.
    func source(_ settings: ClientSettings = .current()) -> ConfigSource? {
        settings.configSource(option: self.path)
    }

    /// The file to read: the option, else the environment, else the first default file that exists, else
    /// Arvados's default path.
    var resolvedPath: String {
        self.source()?.path ?? "/etc/arvados/config.yml"
    }

    /// Loads the configuration, printing warnings; on failure prints every error and exits with status 2.
    /// `checkingTransportSecurity: false` accepts https:// URLs without TLS material (for `tls init`).
    ///
    /// When no file was named and none of the default ones exists, the one error says which option or variable
    /// names one.
    func load(
        _ settings: ClientSettings = .current(),
        checkingTransportSecurity: Bool = true
    ) throws -> LoadedClusterConfig {
        guard let source = self.source(settings) else {
            throw usageFailure("no configuration file: \(settings.howToNameConfig)")
        }
        return try Self.load(source, checkingTransportSecurity: checkingTransportSecurity)
    }

    /// Loads the configuration at `source`; on failure prints every error and exits with status 2.
    static func load(
        _ source: ConfigSource,
        checkingTransportSecurity: Bool = true,
        overrides: [ConfigOverride] = []
    ) throws -> LoadedClusterConfig {
        let loaded: LoadedClusterConfig
        do {
            loaded = try ClusterConfig.load(
                contentsOfFile: source.path,
                checkingTransportSecurity: checkingTransportSecurity,
                overrides: overrides
            )
        } catch {
            for warning in error.warnings { printToStandardError("warning: \(warning)") }
            if error.diagnostics.isEmpty {
                let origin =
                    switch source.origin {
                    case .option: " (from --config)"
                    case .environment: " (from DISPATCH_CLOUD_CONFIG)"
                    case .defaultFile: ""
                    }
                printToStandardError("error: \(error.message)\(origin)")
            }
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

/// Writes one line to standard output at once (unbuffered, so progress shows as it happens).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
