import ArgumentParser

/// `dispatch-cloud check-config`: placeholder replaced by the configuration work.
struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check the configuration and print the effective settings."
    )

    @OptionGroup var configOptions: ConfigOptions

    func run() async throws {}
}
