import ArgumentParser
import CloudDriver
import CloudTesting
import DispatchConfig
import Logging

/// `dispatch-cloud cloudtest`: the driver conformance run (reference §8.5).
///
/// Creates one instance with the configured driver and takes it through its life — listed with its tags,
/// reachable over the executor with its host verified, boot probe, new tags, destroy, gone — printing each
/// step with ✔ or ✘ and its duration. Exits 0 when every step passes, 1 when one fails (after destroying
/// what it created), 2 when the configuration cannot be used. Flags as `arvados-server cloudtest`'s, with one
/// dash or two; with `ec2` and several `SubnetID`s, one run per subnet.
struct CloudTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudtest",
        abstract: "Check that the configured cloud driver works: create, list, connect, probe, tag, destroy.",
        discussion: """
            Uses Containers.CloudVMs (Driver, DriverParameters, ImageID, BootProbeCommand, TimeoutBooting, \
            ProbeInterval, …) and Containers.DispatchPrivateKey. With the loopback driver and no \
            DispatchPrivateKey, a throwaway Ed25519 key is generated for the run. Only the EC2 driver at a \
            real endpoint dials instances at other than loopback addresses (127.0.0.1, ::1, localhost). With \
            --api-only, or automatically when the EC2 Endpoint is on this host (a fake cloud such as moto), \
            the run checks the API lifecycle only (create, listed with tags, set tags, destroy, gone) and \
            never connects to the instance. Exit status: 0 when every step passed, 1 when a step failed, 2 \
            for a configuration error.
            """
    )

    @OptionGroup var configOptions: ConfigOptions

    @Option(
        name: [.customLong("instance-type"), .customLong("instance-type", withSingleDash: true)],
        help: ArgumentHelp("The instance type to create (default: the cheapest).", valueName: "name")
    )
    var instanceType: String?

    @Option(
        name: [.customLong("instance-set-id"), .customLong("instance-set-id", withSingleDash: true)],
        help: ArgumentHelp("The InstanceSetID tag of the test instance.", valueName: "id")
    )
    var instanceSetID = "zzzzz-zzzzz-zzzzzzcloudtest"

    @Option(
        name: [.customLong("image-id"), .customLong("image-id", withSingleDash: true)],
        help: ArgumentHelp("The image to create the test instance from (default: CloudVMs.ImageID).", valueName: "id")
    )
    var imageID: String?

    @Flag(
        name: [.customLong("destroy-existing"), .customLong("destroy-existing", withSingleDash: true)],
        help: "Destroy instances left tagged with the test's instance set ID instead of stopping."
    )
    var destroyExisting = false

    @Option(
        name: [.customLong("command"), .customLong("command", withSingleDash: true)],
        help: ArgumentHelp(
            "A shell command to run on the test instance once it boots; its output is shown.",
            valueName: "command"
        )
    )
    var shellCommand: String?

    @Flag(
        name: [.customLong("pause-before-destroy"), .customLong("pause-before-destroy", withSingleDash: true)],
        help: "Prompt and wait for Enter on standard input before destroying the test instance."
    )
    var pauseBeforeDestroy = false

    @Flag(
        name: [.customLong("api-only"), .customLong("api-only", withSingleDash: true)],
        help: "Check the cloud API only (create, list, tag, destroy) without connecting to the instance."
    )
    var apiOnly = false

    @Flag(help: "Log the driver's messages at debug level on standard error.")
    var verbose = false

    func run() async throws {
        let config = try self.configOptions.load().config
        var logger = Logger(label: "dispatch-cloud.cloudtest")
        logger.logLevel = self.verbose ? .debug : .warning
        let options = CloudTest.Options(
            instanceType: self.instanceType,
            instanceSetID: self.instanceSetID,
            imageID: self.imageID,
            destroyExisting: self.destroyExisting,
            shellCommand: self.shellCommand,
            pauseBeforeDestroy: self.pauseBeforeDestroy,
            apiOnly: self.apiOnly
        )
        let outcome: CloudTest.Outcome
        do throws(CloudTestConfigurationError) {
            outcome = try await CloudTest.run(config: config, options: options, registry: .builtIn, logger: logger)
        } catch {
            printToStandardError("error: \(error.message)")
            throw ExitCode(2)
        }
        if outcome.failed > 0 { throw ExitCode(1) }
    }
}
