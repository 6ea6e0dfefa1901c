public import CloudDriver
import Crypto
public import DispatchConfig
public import DispatchModel
public import Logging
import NIOSSH
import RemoteExecution
import SSHExecutor

extension CloudTest {
    /// The options of `dispatch-cloud cloudtest` (as `arvados-server cloudtest`'s), as the command parsed them.
    public struct Options: Sendable {
        /// `--instance-type`: the type to create; the cheapest configured one when `nil`.
        public var instanceType: String?
        /// `--instance-set-id`: the `InstanceSetID` tag of the test instance.
        public var instanceSetID: String
        /// `--image-id`: the image to create from; `CloudVMs.ImageID` when `nil`.
        public var imageID: String?
        /// `--destroy-existing`: destroy instances left with the test's instance set ID instead of failing.
        public var destroyExisting: Bool
        /// `--command`: a shell command to run on the booted instance.
        public var shellCommand: String?
        /// `--pause-before-destroy`: wait for Enter before destroying the instance.
        public var pauseBeforeDestroy: Bool
        /// `--api-only`: check the cloud API only, never connecting to the instance.
        public var apiOnly: Bool

        /// Options with the command's defaults.
        public init(
            instanceType: String? = nil,
            instanceSetID: String = "zzzzz-zzzzz-zzzzzzcloudtest",
            imageID: String? = nil,
            destroyExisting: Bool = false,
            shellCommand: String? = nil,
            pauseBeforeDestroy: Bool = false,
            apiOnly: Bool = false
        ) {
            self.instanceType = instanceType
            self.instanceSetID = instanceSetID
            self.imageID = imageID
            self.destroyExisting = destroyExisting
            self.shellCommand = shellCommand
            self.pauseBeforeDestroy = pauseBeforeDestroy
            self.apiOnly = apiOnly
        }
    }

    /// How the runs went: how many there were (one per `SubnetID` for `ec2` with several) and how many failed.
    public struct Outcome: Hashable, Sendable {
        /// How many runs there were.
        public var runs: Int
        /// How many of them had a step that failed.
        public var failed: Int
    }

    /// Runs the whole of `cloudtest` for a cluster configuration: one run, or one per subnet (``subnetRuns(driver:parameters:)``),
    /// each with a new instance set from `registry`, writing every step to `console`.
    ///
    /// Throws before any cloud call when the configuration and options do not allow a run (an unknown instance
    /// type, no instance types, an unreadable or missing key, driver parameters the driver refuses).
    public static func run(
        config: ClusterConfig,
        options: Options,
        registry: DriverRegistry,
        logger: Logger,
        console: Console = .standard
    ) async throws(CloudTestConfigurationError) -> Outcome {
        let plan = try Plan(config: config, options: options)
        let runs = Self.subnetRuns(
            driver: config.containers.cloudVMs.driver,
            parameters: config.containers.cloudVMs.driverParameters.raw
        )
        var failed = 0
        var key: (key: NIOSSHPrivateKey?, note: String?)?
        for (index, run) in runs.enumerated() {
            if let subnet = run.subnet {
                console.say("cloudtest: run \(index + 1) of \(runs.count): SubnetID[\(index)] \(subnet)")
            }
            let context = Driver.Context(
                parameters: run.parameters,
                clusterID: config.clusterID,
                logger: logger,
                dataDirectory: config.dispatchCloud.dataDirectory
            )
            let product: Driver.Product
            do throws(DriverConfigurationError) {
                product = try registry.makeInstanceSet(driver: plan.driver, context: context)
            } catch {
                throw CloudTestConfigurationError("Containers.CloudVMs.DriverParameters.\(error.key): \(error.message)")
            }
            if key == nil { key = try Self.key(plan, access: product.access) }
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
            if !(await CloudTest(plan: runPlan, console: console).run(product)) {
                failed += 1
                if let subnet = run.subnet { console.say("cloudtest: failed using SubnetID[\(index)] \(subnet)") }
            }
        }
        if runs.count > 1 {
            console.say("cloudtest: \(runs.count - failed) of \(runs.count) subnet runs passed")
        }
        return Outcome(runs: runs.count, failed: failed)
    }

    /// One run per configured subnet for `ec2` when `SubnetID` lists more than one (as Arvados's cloudtest),
    /// each with that subnet alone; otherwise one run with the parameters as configured.
    public static func subnetRuns(
        driver: String,
        parameters: JSONValue
    ) -> [(subnet: String?, parameters: JSONValue)] {
        guard driver == "ec2", case .object(var members) = parameters, case .array(let subnets)? = members["SubnetID"],
            subnets.count > 1
        else { return [(nil, parameters)] }
        return subnets.map { subnet in
            members["SubnetID"] = subnet
            return (subnet.stringValue ?? "\(subnet)", .object(members))
        }
    }

    /// The key of the run: the configured one; else, as the driver's product says, none for instances that run
    /// commands in this process, or a throwaway key where the driver allows a key of the dispatcher's own
    /// (loopback) or only the API is checked (`--api-only`, a fake cloud). At a real cloud a throwaway key would
    /// leave one more key pair behind per run, so there the configured key is required.
    static func key(
        _ plan: Plan,
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

extension CloudTest.Plan {
    /// Everything a run needs from the configuration and the options (its key and dial policy are settled once
    /// the driver has said how its instances are reached).
    public init(config: ClusterConfig, options: CloudTest.Options) throws(CloudTestConfigurationError) {
        let cloudVMs = config.containers.cloudVMs
        let types = config.sortedInstanceTypes
        let type: InstanceType
        if let name = options.instanceType {
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
        self.init(
            driver: cloudVMs.driver,
            instanceType: type,
            imageID: options.imageID.map { ImageID(rawValue: $0) } ?? cloudVMs.imageID,
            instanceSetID: options.instanceSetID,
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
            destroyExisting: options.destroyExisting,
            shellCommand: options.shellCommand,
            pauseBeforeDestroy: options.pauseBeforeDestroy,
            apiOnly: options.apiOnly
        )
    }
}

/// The options and the configuration do not allow a run.
public struct CloudTestConfigurationError: Error {
    /// What is wrong, naming the option or configuration key.
    public var message: String

    init(_ message: String) { self.message = message }
}
