import ArgumentParser
import DispatchCloud

/// `dispatch-cloud`: the dispatcher daemon and its admin command line.
@main
struct DispatchCloudCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch-cloud",
        abstract: "Dispatch batch containers onto cloud VMs (an Arvados-compatible cloud dispatcher).",
        discussion: """
            Reads an Arvados-style cluster configuration (Clusters.<id>.Containers.CloudVMs.*, InstanceTypes, \
            …). The configuration file is --config, else $DISPATCH_CLOUD_CONFIG, else /etc/arvados/config.yml. \
            Client commands (submit, containers, logs, cancel) use ARVADOS_API_HOST and ARVADOS_API_TOKEN when \
            set, else the configuration's Services.Controller.ExternalURL and SystemRootToken.
            """,
        version: DispatchCloudVersion.current,
        subcommands: [
            CheckConfigCommand.self,
            CloudTestCommand.self,
            ServeCommand.self,
            DemoCommand.self,
            SubmitCommand.self,
            ContainersCommand.self,
            LogsCommand.self,
            CancelCommand.self,
            InstancesCommand.self,
        ]
    )
}

/// `dispatch-cloud serve`: run the dispatcher daemon.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the dispatcher daemon (not yet available in this build)."
    )

    @OptionGroup var configOptions: ConfigOptions

    func run() async throws {
        throw NotYetAvailable(feature: "serve", arrivesWith: "the scheduler and daemon work")
    }
}

/// `dispatch-cloud demo`: the README's main command.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a batch of sample containers on this machine, end to end (not yet available in this build)."
    )

    func run() async throws {
        throw NotYetAvailable(feature: "demo", arrivesWith: "the end-to-end standalone work")
    }
}

/// A subcommand that exists so scripts and docs can name it, but whose implementation has not landed.
struct NotYetAvailable: Error, CustomStringConvertible {
    var feature: String
    var arrivesWith: String
    var description: String {
        "dispatch-cloud \(self.feature): not yet available in this build (arrives with \(self.arrivesWith))"
    }
}
