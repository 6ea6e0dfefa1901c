import ArgumentParser
import DispatchConfig

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
        let rendered: String
        do {
            rendered = try loaded.config.renderEffectiveYAML()
        } catch {
            printToStandardError("error: cannot render the effective configuration: \(error)")
            throw ExitCode(2)
        }
        print(rendered, terminator: rendered.hasSuffix("\n") ? "" : "\n")
    }
}
