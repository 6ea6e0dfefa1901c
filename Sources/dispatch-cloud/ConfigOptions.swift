import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `--config` option shared by every subcommand that reads the cluster configuration.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: .customLong("config"),
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
        if let fromEnvironment = getenv("DISPATCH_CLOUD_CONFIG") { return String(cString: fromEnvironment) }
        return "/etc/arvados/config.yml"
    }
}
