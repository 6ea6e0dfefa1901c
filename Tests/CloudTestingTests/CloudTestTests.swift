import CloudDriver
import CloudTesting
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Logging
import SimulatedRunner
import Synchronization
import Testing

/// The steps of `dispatch-cloud cloudtest` as a library, run in process against the simulated driver (the
/// command itself is tested through the CLI in `CloudTestCommandTests` and `CloudTestEC2Tests`).
@Suite("CloudTest, the library behind dispatch-cloud cloudtest")
struct CloudTestTests {
    /// The lines a run writes, kept in order.
    final class Transcript: Sendable {
        private let lines = Mutex<[String]>([])

        var console: CloudTest.Console {
            CloudTest.Console(
                say: { line in self.lines.withLock { $0.append(line) } },
                waitForEnter: {}
            )
        }

        var text: String { self.lines.withLock { $0.joined(separator: "\n") } }
    }

    /// Two instance types and the simulated driver with instances that boot at once.
    static func simulatedConfig() -> ClusterConfig {
        var config = ClusterConfig(clusterID: ClusterID(rawValue: "zzzzz"))
        for type in [Fixtures.instanceType(1), Fixtures.instanceType(2)] { config.instanceTypes[type.name] = type }
        config.containers.cloudVMs.driver = "simulated"
        config.containers.cloudVMs.driverParameters = DriverParameters(
            raw: .object(["BootTime": .object(["Min": .string("0s"), "Max": .string("0s")]), "Seed": .int(7)])
        )
        config.containers.cloudVMs.bootProbeCommand = "true"
        config.containers.cloudVMs.probeInterval = .milliseconds(10)
        config.containers.cloudVMs.syncInterval = .milliseconds(10)
        config.containers.cloudVMs.timeoutBooting = .seconds(30)
        return config
    }

    static let registry = DriverRegistry([.simulated])
    static let logger = Logger(label: "cloudtest-test")

    @Test("A run against the simulated driver passes every step, in memory, and writes each to its console")
    func simulatedRun() async throws {
        let transcript = Transcript()
        let outcome = try await CloudTest.run(
            config: Self.simulatedConfig(),
            options: CloudTest.Options(),
            registry: Self.registry,
            logger: Self.logger,
            console: transcript.console
        )
        #expect(outcome.runs == 1 && outcome.failed == 0, "\(transcript.text)")
        for step in [
            "check for leftover instances", "create instance", "listed with its tags", "reachable, host verified",
            "boot probe", "set tags", "destroy instance", "gone from the list",
        ] {
            #expect(transcript.text.contains("✔ \(step)"), "missing step \(step) in \(transcript.text)")
        }
        #expect(!transcript.text.contains("✘"))
        #expect(transcript.text.contains("type1 (providertype1)"), "the cheapest type by default")
        #expect(transcript.text.contains("in memory (no SSH)"))
        #expect(transcript.text.contains("no SSH key is used"))
        #expect(transcript.text.contains("cloudtest: PASS"))
    }

    @Test("An API-only run never connects: no reachability step, no boot probe, and --command is not run")
    func apiOnlyRun() async throws {
        let transcript = Transcript()
        let outcome = try await CloudTest.run(
            config: Self.simulatedConfig(),
            options: CloudTest.Options(instanceType: "type2", shellCommand: "false", apiOnly: true),
            registry: Self.registry,
            logger: Self.logger,
            console: transcript.console
        )
        #expect(outcome.failed == 0, "\(transcript.text)")
        #expect(transcript.text.contains("type2 (providertype2)"))
        #expect(transcript.text.contains("note: API only: not connecting to"))
        #expect(transcript.text.contains("note: API only: -command 'false' not run"))
        #expect(!transcript.text.contains("reachable, host verified"))
        #expect(!transcript.text.contains("boot probe"))
        #expect(transcript.text.contains("✔ gone from the list"))
    }

    @Test(
        "A plan the configuration cannot give is refused before any cloud call, naming what to fix",
        arguments: [
            (Optional("nope"), true, "--instance-type nope is not in InstanceTypes (known: type1, type2)"),
            (nil, false, "InstanceTypes is empty: there is no instance type to create"),
        ] as [(String?, Bool, String)]
    )
    func refusedPlans(instanceType: String?, withTypes: Bool, message: String) async throws {
        var config = Self.simulatedConfig()
        if !withTypes { config.instanceTypes = [:] }
        let transcript = Transcript()
        do {
            _ = try await CloudTest.run(
                config: config,
                options: CloudTest.Options(instanceType: instanceType),
                registry: Self.registry,
                logger: Self.logger,
                console: transcript.console
            )
            Issue.record("the run was not refused")
        } catch {
            #expect(error.message == message)
        }
        #expect(transcript.text.isEmpty, "nothing was run: \(transcript.text)")
    }

    @Test("Driver parameters the driver refuses are a configuration error with their key path")
    func refusedDriverParameters() async throws {
        var config = Self.simulatedConfig()
        config.containers.cloudVMs.driverParameters = DriverParameters(raw: .object(["Seed": .string("seven")]))
        do {
            _ = try await CloudTest.run(
                config: config,
                options: CloudTest.Options(),
                registry: Self.registry,
                logger: Self.logger,
                console: Transcript().console
            )
            Issue.record("the run was not refused")
        } catch {
            #expect(error.message.hasPrefix("Containers.CloudVMs.DriverParameters.Seed: "), "\(error.message)")
        }
    }

    @Test(
        "EC2 with several subnets is one run per subnet, each with that subnet alone; anything else is one run",
        arguments: [
            ("ec2", JSONValue.object(["SubnetID": .array([.string("a"), .string("b")])]), [Optional("a"), "b"]),
            ("ec2", .object(["SubnetID": .array([.string("a")])]), [nil]),
            ("ec2", .object(["SubnetID": .string("a")]), [nil]),
            ("loopback", .object(["SubnetID": .array([.string("a"), .string("b")])]), [nil]),
        ] as [(String, JSONValue, [String?])]
    )
    func subnetRuns(driver: String, parameters: JSONValue, subnets: [String?]) {
        let runs = CloudTest.subnetRuns(driver: driver, parameters: parameters)
        #expect(runs.map(\.subnet) == subnets)
        for run in runs {
            guard let subnet = run.subnet else {
                #expect(run.parameters == parameters)
                continue
            }
            #expect(run.parameters == .object(["SubnetID": .string(subnet)]))
        }
    }
}
