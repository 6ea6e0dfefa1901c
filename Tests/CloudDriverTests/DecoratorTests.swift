import CloudDriver
import DispatchModel
import DispatchTestSupport
import Logging
import Testing

@Suite("Instance set decorators")
struct DecoratorTests {
    static let type1 = Fixtures.instanceType(1)

    static func create<Set: InstanceSet>(
        on set: Set,
        tags: InstanceTags = [:]
    ) async throws(CloudError) -> Set.Instance {
        try await set.create(type: Self.type1, imageID: "image", tags: tags, initCommand: "true", publicKey: nil)
    }

    @Test("Rate-limited calls of every kind wait their turn, 1/N second apart", .timeLimit(.minutes(1)))
    func rateLimitSpacing() async throws {
        let clock = ManualClock()
        let base = RecordingInstanceSet(clock: clock)
        let limited = RateLimitedInstanceSet(base, maxOperationsPerSecond: 4, clock: clock)
        let task = Task {
            let instance = try await Self.create(on: limited)
            _ = try await limited.instances(tagged: [:])
            try await instance.setTags(["a": "b"])
            try await instance.destroy()
        }
        for _ in 0..<3 {
            await clock.waitForSleepers(1)
            clock.advance(by: .milliseconds(250))
        }
        try await task.value
        #expect(
            base.calls == [
                .init(operation: "Create", at: .zero),
                .init(operation: "List", at: .milliseconds(250)),
                .init(operation: "SetTags", at: .milliseconds(500)),
                .init(operation: "Destroy", at: .milliseconds(750)),
            ]
        )
    }

    @Test("Concurrent callers share one schedule of turns", .timeLimit(.minutes(1)))
    func rateLimitShared() async throws {
        let clock = ManualClock()
        let base = RecordingInstanceSet(clock: clock)
        let limited = RateLimitedInstanceSet(base, maxOperationsPerSecond: 2, clock: clock)
        let tasks = (0..<3).map { _ in Task { _ = try await limited.instances(tagged: [:]) } }
        await clock.waitForSleepers(2)
        #expect(clock.sleeperDeadlines.map(\.offset) == [.milliseconds(500), .seconds(1)])
        #expect(base.calls.count == 1)
        clock.advance(by: .seconds(1))
        for task in tasks { try await task.value }
        #expect(base.calls.count == 3)
    }

    @Test("Unused turns are not saved up, so a quiet spell gives no burst", .timeLimit(.minutes(1)))
    func rateLimitNoBurst() async throws {
        let clock = ManualClock()
        let base = RecordingInstanceSet(clock: clock)
        let limited = RateLimitedInstanceSet(base, maxOperationsPerSecond: 10, clock: clock)
        _ = try await limited.instances(tagged: [:])
        clock.advance(by: .seconds(60))
        let task = Task {
            _ = try await limited.instances(tagged: [:])
            _ = try await limited.instances(tagged: [:])
        }
        await clock.waitForSleepers(1)
        #expect(clock.sleeperDeadlines.map(\.offset) == [.seconds(60) + .milliseconds(100)])
        clock.advance(by: .milliseconds(100))
        try await task.value
        #expect(base.calls.map(\.at) == [.zero, .seconds(60), .seconds(60) + .milliseconds(100)])
    }

    @Test("A limit of zero does not limit")
    func rateLimitOff() async throws {
        let clock = ManualClock()
        let base = RecordingInstanceSet(clock: clock)
        let limited = RateLimitedInstanceSet(base, maxOperationsPerSecond: 0, clock: clock)
        for _ in 0..<5 { _ = try await limited.instances(tagged: [:]) }
        #expect(base.calls.count == 5)
        #expect(clock.totalSleeps == 0)
    }

    @Test("A call cancelled while waiting for its turn throws a cloud error and never reaches the cloud")
    func rateLimitCancelled() async throws {
        let clock = ManualClock()
        let base = RecordingInstanceSet(clock: clock)
        let limited = RateLimitedInstanceSet(base, maxOperationsPerSecond: 1, clock: clock)
        _ = try await limited.instances(tagged: [:])
        let waiting = Task { try await limited.instances(tagged: [:]) }
        await clock.waitForSleepers(1)
        waiting.cancel()
        await #expect(throws: CloudError.self) { try await waiting.value }
        #expect(base.calls.count == 1)
    }

    @Test(
        "Default tags are merged into created instances and explicit tags win",
        arguments: [
            ([:], ["a": "1", "b": "2"]),
            (["b": "x", "c": "3"], ["a": "1", "b": "x", "c": "3"]),
            (["a": ""], ["a": "", "b": "2"]),
        ] as [(InstanceTags, InstanceTags)]
    )
    func defaultTags(explicit: InstanceTags, expected: InstanceTags) async throws {
        let base = RecordingInstanceSet()
        let tagging = DefaultTaggingInstanceSet(base, defaultTags: ["a": "1", "b": "2"])
        let instance = try await Self.create(on: tagging, tags: explicit)
        #expect(instance.tags == expected)
        #expect(base.createdTags == [expected])
    }

    @Test(
        "Listing drops instances lacking any requested tag",
        arguments: [
            ([:], ["inst0", "inst1", "inst2", "inst3"]),
            (["set": "1"], ["inst0", "inst1"]),
            (["set": "1", "type": "a"], ["inst0"]),
            // Kept after one dropped, and dropped first.
            (["type": "a"], ["inst0", "inst2"]),
            (["type": "b"], ["inst1"]),
            (["set": "3"], []),
        ] as [(InstanceTags, [InstanceID])]
    )
    func filtering(filter: InstanceTags, expected: [InstanceID]) async throws {
        let base = RecordingInstanceSet()
        base.add("inst0", tags: ["set": "1", "type": "a"])
        base.add("inst1", tags: ["set": "1", "type": "b"])
        base.add("inst2", tags: ["set": "2", "type": "a"])
        base.add("inst3", tags: [:])
        let filtering = FilteringInstanceSet(base, logger: Logger(label: "test"))
        #expect(try await filtering.instances(tagged: filter).map(\.id) == expected)
    }

    @Test("Instrumentation counts each operation and its failures, from zero")
    func instrumentation() async throws {
        let metrics = InMemoryMetricsFactory()
        let base = RecordingInstanceSet()
        let instrumented = InstrumentedInstanceSet(base, metricsFactory: metrics)
        let label = "arvados_dispatchcloud_driver_operations"
        for operation in ["Create", "List", "Destroy", "SetTags"] {
            for error in ["0", "1"] {
                #expect(metrics.counterValue(label, ["operation": operation, "error": error]) == 0)
            }
        }

        let instance = try await Self.create(on: instrumented)
        _ = try await instrumented.instances(tagged: [:])
        _ = try await instrumented.instances(tagged: [:])
        try await instance.setTags(["x": "y"])
        base.fail("List")
        base.fail("Destroy")
        await #expect(throws: CloudError.self) { _ = try await instrumented.instances(tagged: [:]) }
        await #expect(throws: CloudError.self) { try await instance.destroy() }

        #expect(
            metrics.counterValues.filter { $0.value > 0 } == [
                .init(label: label, dimensions: ["operation": "Create", "error": "0"]): 1,
                .init(label: label, dimensions: ["operation": "List", "error": "0"]): 2,
                .init(label: label, dimensions: ["operation": "SetTags", "error": "0"]): 1,
                .init(label: label, dimensions: ["operation": "List", "error": "1"]): 1,
                .init(label: label, dimensions: ["operation": "Destroy", "error": "1"]): 1,
            ]
        )
    }

    @Test("The decorated stack tags, filters, counts and limits together", .timeLimit(.minutes(1)))
    func stack() async throws {
        let clock = ManualClock()
        let metrics = InMemoryMetricsFactory()
        let base = RecordingInstanceSet(clock: clock)
        base.add("foreign", tags: ["owner": "someone-else"])
        let set = base.decorated(
            maxCloudOpsPerSecond: 1,
            resourceTags: ["team": "x", "owner": "default"],
            clock: clock,
            metricsFactory: metrics,
            logger: Logger(label: "test")
        )
        let created = try await Self.create(on: set, tags: ["owner": "me"])
        #expect(created.tags == ["team": "x", "owner": "me"])
        let listing = Task { try await set.instances(tagged: ["owner": "me"]) }
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(1))
        #expect(try await listing.value.map(\.id) == [created.id])
        #expect(base.calls.map(\.at) == [.zero, .seconds(1)])
        let label = "arvados_dispatchcloud_driver_operations"
        #expect(metrics.counterValue(label, ["operation": "List", "error": "0"]) == 1)
    }
}

@Suite("Driver registry")
struct DriverRegistryTests {
    static func context() -> Driver.Context {
        Driver.Context(parameters: .object([:]), clusterID: "zzzzz", logger: Logger(label: "test"))
    }

    @Test("An unknown driver name is an error naming the Driver key and the known drivers")
    func unknownDriver() {
        let registry = DriverRegistry([
            Driver(name: "recording") { _ in Driver.Product(instanceSet: RecordingInstanceSet()) }
        ])
        #expect {
            try registry.makeInstanceSet(driver: "azure", context: Self.context())
        } throws: { error in
            guard let error = error as? DriverConfigurationError else { return false }
            return error.code == .unknownDriver && error.key == "Driver" && error.message.contains("recording")
        }
    }

    @Test("A registered driver makes its instance set from the context")
    func knownDriver() throws {
        let registry = DriverRegistry([
            Driver(name: "recording") { context throws(DriverConfigurationError) in
                guard context.clusterID == "zzzzz" else {
                    throw DriverConfigurationError.invalidParameter("ClusterID", "unexpected cluster")
                }
                return Driver.Product(instanceSet: RecordingInstanceSet())
            }
        ])
        #expect(registry.names == ["recording"])
        let product = try registry.makeInstanceSet(driver: "recording", context: Self.context())
        #expect(product.instanceSet is RecordingInstanceSet)
        #expect(product.run == nil)
    }
}
