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
            TLSCommand.self,
        ]
    )
}
