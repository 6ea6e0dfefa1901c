import ArgumentParser
import DispatchConfig
import Foundation

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
        let path = self.configOptions.resolvedPath
        let loaded: LoadedClusterConfig
        do {
            loaded = try ClusterConfig.load(contentsOfFile: path)
        } catch {
            for warning in error.warnings { Self.printToStandardError("warning: \(warning)") }
            if error.diagnostics.isEmpty {
                Self.printToStandardError("error: \(error.message)")
            }
            for diagnostic in error.diagnostics { Self.printToStandardError("error: \(diagnostic)") }
            throw ExitCode(2)
        }
        for warning in loaded.warnings { Self.printToStandardError("warning: \(warning)") }
        let rendered: String
        do {
            rendered = try loaded.config.renderEffectiveYAML()
        } catch {
            Self.printToStandardError("error: cannot render the effective configuration: \(error)")
            throw ExitCode(2)
        }
        print(rendered, terminator: rendered.hasSuffix("\n") ? "" : "\n")
    }

    private static func printToStandardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
