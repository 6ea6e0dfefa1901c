import ArgumentParser
import CloudDriver
import CloudDriverEC2
import Crypto
import DispatchCloud
import DispatchConfig
import DispatchModel
import Logging
import NIOSSH
import RemoteExecution
import SSHExecutor

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
        var plan: CloudTest.Plan
        do throws(CloudTestConfigurationError) {
            plan = try self.makePlan(config)
        } catch {
            printToStandardError("error: \(error.message)")
            throw ExitCode(2)
        }
        var logger = Logger(label: "dispatch-cloud.cloudtest")
        logger.logLevel = self.verbose ? .debug : .warning
        let driver = config.containers.cloudVMs.driver
        let runs = Self.subnetRuns(driver: driver, parameters: config.containers.cloudVMs.driverParameters.raw)
        var failed = 0
        var key: (key: NIOSSHPrivateKey?, note: String?)?
        for (index, run) in runs.enumerated() {
            if let subnet = run.subnet {
                say("cloudtest: run \(index + 1) of \(runs.count): SubnetID[\(index)] \(subnet)")
            }
            let context = Driver.Context(
                parameters: run.parameters,
                clusterID: config.clusterID,
                logger: logger,
                dataDirectory: config.dispatchCloud.dataDirectory
            )
            let product: Driver.Product
            do throws(DriverConfigurationError) {
                product = try DriverRegistry.builtIn.makeInstanceSet(driver: plan.driver, context: context)
            } catch {
                printToStandardError("error: Containers.CloudVMs.DriverParameters.\(error.key): \(error.message)")
                throw ExitCode(2)
            }
            if key == nil {
                do throws(CloudTestConfigurationError) {
                    key = try Self.key(plan, access: product.access)
                } catch {
                    printToStandardError("error: \(error.message)")
                    throw ExitCode(2)
                }
            }
            var runPlan = plan
            runPlan.privateKey = key?.key
            runPlan.keyNote = key?.note
            if case .ssh(let ssh) = product.access, ssh.addressesAreFake, !runPlan.apiOnly {
                runPlan.apiOnly = true
                runPlan.keyNote = [
                    runPlan.keyNote, "the EC2 endpoint is on this host (a fake cloud): checking the API only",
                ].compactMap { $0 }.joined(separator: "; ")
            }
            // The daemon's rule, as the driver states it: only instances that are real remote machines may be
            // dialled at other than loopback addresses.
            runPlan.dialPolicy = product.access.dialPolicy
            if !(await CloudTest(plan: runPlan).run(product)) {
                failed += 1
                if let subnet = run.subnet { say("cloudtest: failed using SubnetID[\(index)] \(subnet)") }
            }
        }
        if runs.count > 1 {
            say("cloudtest: \(runs.count - failed) of \(runs.count) subnet runs passed")
        }
        if failed > 0 { throw ExitCode(1) }
    }

    /// One run per configured subnet for `ec2` when `SubnetID` lists more than one (as Arvados's cloudtest),
    /// each with that subnet alone; otherwise one run with the parameters as configured.
    static func subnetRuns(driver: String, parameters: JSONValue) -> [(subnet: String?, parameters: JSONValue)] {
        guard driver == "ec2", case .object(var members) = parameters, case .array(let subnets)? = members["SubnetID"],
            subnets.count > 1
        else { return [(nil, parameters)] }
        return subnets.map { subnet in
            members["SubnetID"] = subnet
            return (subnet.stringValue ?? "\(subnet)", .object(members))
        }
    }

    /// Everything the run needs from the configuration and the options.
    private func makePlan(_ config: ClusterConfig) throws(CloudTestConfigurationError) -> CloudTest.Plan {
        let cloudVMs = config.containers.cloudVMs
        let types = config.sortedInstanceTypes
        let type: InstanceType
        if let name = self.instanceType {
            guard let named = config.instanceTypes[InstanceTypeName(rawValue: name)] else {
                throw CloudTestConfigurationError(
                    "--instance-type \(name) is not in InstanceTypes (known: "
                        + types.map(\.name.rawValue).joined(separator: ", ") + ")"
                )
            }
            type = named
        } else {
            guard let cheapest = types.first else {
                throw CloudTestConfigurationError("InstanceTypes is empty: there is no instance type to create")
            }
            type = cheapest
        }
        var key: NIOSSHPrivateKey?
        if !config.containers.dispatchPrivateKey.isEmpty {
            do throws(RemoteExecutionError) {
                key = try OpenSSHPrivateKey.parse(configurationValue: config.containers.dispatchPrivateKey.value)
            } catch {
                throw CloudTestConfigurationError("Containers.DispatchPrivateKey: \(error.message)")
            }
        }
        return CloudTest.Plan(
            driver: cloudVMs.driver,
            instanceType: type,
            imageID: self.imageID.map { ImageID(rawValue: $0) } ?? cloudVMs.imageID,
            instanceSetID: self.instanceSetID,
            tagKeyPrefix: cloudVMs.tagKeyPrefix,
            resourceTags: cloudVMs.resourceTags,
            instanceInitCommand: cloudVMs.instanceInitCommand,
            deployPublicKey: cloudVMs.deployPublicKey,
            bootProbeCommand: cloudVMs.bootProbeCommand.isEmpty ? "true" : cloudVMs.bootProbeCommand,
            sshPort: Int(cloudVMs.sshPort) ?? 22,
            timeoutBooting: cloudVMs.timeoutBooting,
            probeInterval: cloudVMs.probeInterval,
            syncInterval: cloudVMs.syncInterval,
            privateKey: key,
            keyNote: nil,
            destroyExisting: self.destroyExisting,
            shellCommand: self.shellCommand,
            pauseBeforeDestroy: self.pauseBeforeDestroy,
            apiOnly: self.apiOnly
        )
    }
}

extension CloudTestCommand {
    /// The key of the run: the configured one; else, as the driver's product says, none for instances that run
    /// commands in this process, or a throwaway key where the driver allows a key of the dispatcher's own
    /// (loopback) or only the API is checked (`--api-only`, a fake cloud). At a real cloud a throwaway key would
    /// leave one more key pair behind per run, so there the configured key is required.
    static func key(
        _ plan: CloudTest.Plan,
        access: InstanceAccess
    ) throws(CloudTestConfigurationError) -> (key: NIOSSHPrivateKey?, note: String?) {
        if let configured = plan.privateKey { return (configured, nil) }
        let throwaway = (
            key: NIOSSHPrivateKey(ed25519Key: Curve25519.Signing.PrivateKey()),
            note: "Containers.DispatchPrivateKey is empty: using a throwaway Ed25519 key generated for this run"
        )
        switch access {
        case .inProcess:
            return (nil, "the \(plan.driver) driver runs commands in memory: no SSH key is used")
        case .ssh(let ssh) where ssh.allowsGeneratedKey || ssh.addressesAreFake || plan.apiOnly:
            return throwaway
        case .ssh:
            throw CloudTestConfigurationError("Containers.DispatchPrivateKey is empty: the driver needs an SSH key")
        }
    }
}

/// The options and the configuration do not allow a run.
struct CloudTestConfigurationError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
