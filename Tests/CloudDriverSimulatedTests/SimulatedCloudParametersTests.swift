import CloudDriver
import CloudDriverSimulated
import DispatchModel
import Logging
import RemoteExecution
import SimulatedRunner
import Testing

@Suite("Simulated cloud parameters")
struct SimulatedCloudParametersTests {
    @Test("No parameters give a well-behaved cloud")
    func defaults() throws {
        let parameters = try SimulatedCloudParameters(.null)
        #expect(parameters == SimulatedCloudParameters())
        #expect(parameters.bootTime == .init(min: .seconds(10), max: .seconds(60)))
        #expect(parameters.errorRates == .init())
        #expect(parameters.exitCodes == [0: 1])
        #expect(parameters.maxInstances == 0)
        #expect(parameters.seed == nil)
    }

    @Test("Every documented key is read")
    func allKeys() throws {
        let parameters = try Sim.parameters(
            """
            {"BootTime": {"Min": "1m", "Max": "1m30s"}, "ShutdownTime": {"Max": "20s"},
             "ErrorRates": {"Create": 0.01, "List": 0.02, "Destroy": 0.03, "SetTags": 0.04},
             "MaxInstances": 50, "CapacityErrors": {"m5.large": 0.5},
             "MinTimeBetweenCalls": {"Create": "2s", "List": 0.5},
             "RateLimitErrorRate": 0.1, "RateLimitRetryAfter": 7,
             "BrokenRate": 0.2, "BrokenAtFirst": {"m5.large": "300ms"}, "UnresponsiveRate": 0.3, "UnresponsiveAfter": {"Min": "0s", "Max": "2h"},
             "RunnerMissingRate": 0.4, "RunnerCrashRate": 0.5, "StaleLockRate": 0.6,
             "RunTime": {"Min": "250ms", "Max": 1.5}, "ExitCodes": {"0": 0.9, "1": 0.1},
             "WaitsForRunnerUpdates": true, "RemoteUser": "crunch", "Seed": 42}
            """
        )
        var expected = SimulatedCloudParameters()
        expected.bootTime = .init(min: .seconds(60), max: .seconds(90))
        expected.shutdownTime = .init(min: .zero, max: .seconds(20))
        expected.errorRates = .init(create: 0.01, list: 0.02, destroy: 0.03, setTags: 0.04)
        expected.maxInstances = 50
        expected.capacityErrors = ["m5.large": 0.5]
        expected.minTimeBetweenCalls = ["Create": .seconds(2), "List": .milliseconds(500)]
        expected.rateLimitErrorRate = 0.1
        expected.rateLimitRetryAfter = .seconds(7)
        expected.brokenRate = 0.2
        expected.brokenAtFirst = ["m5.large": .milliseconds(300)]
        expected.unresponsiveRate = 0.3
        expected.unresponsiveAfter = .init(min: .zero, max: .seconds(7200))
        expected.runnerMissingRate = 0.4
        expected.runnerCrashRate = 0.5
        expected.staleLockRate = 0.6
        expected.runTime = .init(min: .milliseconds(250), max: .milliseconds(1500))
        expected.exitCodes = [0: 0.9, 1: 0.1]
        expected.waitsForRunnerUpdates = true
        expected.remoteUser = "crunch"
        expected.seed = 42
        #expect(parameters == expected)
    }

    @Test(
        "Go-style durations are read",
        arguments: [
            ("\"90s\"", Duration.seconds(90)),
            ("\"1m30s\"", .seconds(90)),
            ("\"1.5h\"", .seconds(5400)),
            ("\"250ms\"", .milliseconds(250)),
            ("\"0\"", .zero),
            ("12", .seconds(12)),
        ]
    )
    func durations(text: String, expected: Duration) throws {
        #expect(try Sim.parameters("{\"RateLimitRetryAfter\": \(text)}").rateLimitRetryAfter == expected)
    }

    @Test(
        "An invalid parameter is an error naming its key",
        arguments: [
            ("[]", "DriverParameters"),
            (#"{"BootTime": {"Min": "1m", "Max": "10s"}}"#, "BootTime"),
            (#"{"BootTime": {"Min": "soon"}}"#, "BootTime.Min"),
            (#"{"BootTime": {"Mean": "1m"}}"#, "BootTime.Mean"),
            (#"{"ErrorRates": {"Create": 2}}"#, "ErrorRates.Create"),
            (#"{"ErrorRates": {"Craete": 0.1}}"#, "ErrorRates.Craete"),
            (#"{"MaxInstances": -1}"#, "MaxInstances"),
            (#"{"MaxInstances": 1.5}"#, "MaxInstances"),
            (#"{"CapacityErrors": {"m5.large": 1.5}}"#, "CapacityErrors.m5.large"),
            (#"{"BrokenRate": "high"}"#, "BrokenRate"),
            (#"{"RunTime": {"Max": "-1s"}}"#, "RunTime.Max"),
            (#"{"ExitCodes": {"zero": 1}}"#, "ExitCodes.zero"),
            (#"{"ExitCodes": {"0": 0}}"#, "ExitCodes"),
            (#"{"RemoteUser": ""}"#, "RemoteUser"),
            (#"{"Sed": 1}"#, "Sed"),
            (#"{"MinTimeBetweenCalls": {"Delete": "1s"}}"#, "MinTimeBetweenCalls.Delete"),
        ]
    )
    func invalid(json: String, key: String) throws {
        let value = try Sim.json(json)
        #expect {
            _ = try SimulatedCloudParameters(value)
        } throws: { error in
            (error as? DriverConfigurationError).map { $0.code == .invalidParameter && $0.key == key } ?? false
        }
    }

    @Test("The simulated driver is made through the registry and reports bad parameters by key")
    func registry() async throws {
        let registry = DriverRegistry([.simulated])
        let logger = Logger(label: "test")
        #expect {
            try registry.makeInstanceSet(
                driver: "simulated",
                context: .init(parameters: try Sim.json(#"{"StaleLockRate": 3}"#), clusterID: "zzzzz", logger: logger)
            )
        } throws: { error in
            (error as? DriverConfigurationError)?.key == "StaleLockRate"
        }
        let product = try registry.makeInstanceSet(
            driver: "simulated",
            context: .init(
                parameters: try Sim.json(#"{"BootTime": {"Min": 0, "Max": 0}}"#),
                clusterID: "zzzzz",
                logger: logger
            )
        )
        #expect(product.run != nil)
        let instance = try await Self.create(on: product.instanceSet)
        #expect(instance.starts(with: "sim"))
        await product.instanceSet.stop()
    }

    /// Opens the existential once, as the assembly will.
    private static func create(on set: some InstanceSet) async throws -> String {
        let instance = try await set.create(
            type: Sim.type1,
            imageID: "image",
            tags: [:],
            initCommand: Sim.initCommand,
            publicKey: nil
        )
        let probe = try await (instance as? any RemoteExecutor)?.execute("true")
        #expect(probe?.exitStatus == 0)
        return instance.id.rawValue
    }
}
