import CloudDriver
import CloudDriverSimulated
import DispatchModel
import DispatchTestSupport
import RemoteExecution
import Synchronization
import Testing

@testable import WorkerPool

@Suite("Worker pool lifecycle")
struct PoolLifecycleTests {
    static let type1 = Fixtures.instanceType(1)
    static let type2 = Fixtures.instanceType(2)

    @Test("A created instance carries the pool's tags, boots, gets the runner and becomes idle")
    func createBootProbeIdle() async throws {
        let harness = PoolHarness.start(configuration: PoolHarness.configuration(types: [Self.type1]))
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(1, in: .booting)

        let listed = try await harness.cloud.instances(tagged: [:])
        try #require(listed.count == 1)
        let tags = listed[0].tags
        #expect(tags["ArvadosInstanceSetID"] == PoolHarness.instanceSetID.rawValue)
        #expect(tags["ArvadosInstanceType"] == "type1")
        #expect(tags["ArvadosIdleBehavior"] == "run")
        #expect(tags["testtag"] == "testvalue")
        let secret = try #require(tags["ArvadosInstanceSecret"])
        #expect(secret.count == 40 && secret.allSatisfy(\.isHexDigit))
        // The init command planted the same secret on the instance.
        harness.clock.advance(by: .seconds(1))
        let readBack = try await listed[0].execute(
            environment: [:],
            command: "cat /var/run/arvados-instance-secret",
            stdin: []
        )
        #expect(readBack.stdoutText == secret)

        harness.advanceProbeTick()
        await harness.eventually(1, in: .idle)
        #expect(await harness.pool.countWorkers() == [.idle: 1])
        #expect(harness.metrics.counterValue(PoolMetrics.Name.bootOutcomes, ["outcome": "success"]) == 1)
        #expect(!harness.metrics.timerValues(PoolMetrics.Name.timeToReady).isEmpty)

        // The runner went to <DeployRunnerDirectory>/crunch-run~<md5> after an md5sum check.
        let md5 = Digests.md5Hex(Array("#!/bin/sh\necho runner\n".utf8))
        let runner = "/tmp/arvados-crunch-run/crunch-run~\(md5)"
        #expect(harness.commands.matching("md5sum \(runner)").count == 1)
        #expect(harness.commands.matching("cat >\"$dstfile\"").count == 1)
        #expect(harness.commands.matching("\(runner) --list").count >= 1)
        await harness.stop()
    }

    @Test("TagKeyPrefix names the pool's four tags, and the pool finds its instances by them")
    func tagKeyPrefix() async throws {
        var configuration = PoolHarness.configuration(types: [Self.type1])
        configuration.tagKeyPrefix = "Dispatch"
        #expect(
            Pool.TagKey.allCases.map { configuration.tagKey($0) } == [
                "DispatchInstanceSetID", "DispatchInstanceType", "DispatchIdleBehavior", "DispatchInstanceSecret",
            ]
        )
        let harness = PoolHarness.start(configuration: configuration)
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(1, in: .booting)
        let listed = try await harness.cloud.instances(tagged: [:])
        try #require(listed.count == 1)
        #expect(listed[0].tags["DispatchInstanceSetID"] == PoolHarness.instanceSetID.rawValue)
        #expect(listed[0].tags["DispatchInstanceType"] == "type1")
        #expect(listed[0].tags["DispatchIdleBehavior"] == "run")
        #expect(listed[0].tags.keys.filter { $0.hasPrefix("Arvados") }.isEmpty)
        harness.advanceProbeTick()
        await harness.eventually(1, in: .idle)
        await harness.stop()
    }

    @Test("A runner already in place is not deployed again")
    func deploySkippedWhenPresent() async throws {
        let configuration = PoolHarness.configuration(types: [Self.type1])
        let first = PoolHarness.start(configuration: configuration)
        #expect(await first.pool.create(Self.type1))
        await first.eventually(1, in: .booting)
        first.advanceProbeTick()
        await first.eventually(1, in: .idle)
        await first.stop()

        let second = PoolHarness.start(configuration: configuration, clock: first.clock, cloud: first.cloud)
        _ = await second.pool.countWorkers()
        second.advanceProbeTick()
        await second.eventually(1, in: .idle)
        #expect(second.commands.matching("md5sum").count == 1)
        #expect(second.commands.matching("cat >\"$dstfile\"").isEmpty)
        await second.stop()
    }

    @Test("An unreadable runner binary fails the health check and refuses creates")
    func unreadableRunner() async throws {
        var configuration = PoolHarness.configuration(types: [Self.type1])
        configuration.deployRunnerBinary = "/nonexistent/runner-binary"
        let harness = PoolHarness.start(configuration: configuration)
        await #expect(throws: WorkerPoolError.self) { try await harness.pool.checkHealth() }
        #expect(await !harness.pool.create(Self.type1))
        await harness.stop()

        configuration.deployRunnerBinary = ""
        let plain = PoolHarness.start(configuration: configuration)
        try await plain.pool.checkHealth()
        #expect(await plain.pool.create(Self.type1))
        await plain.eventually(1, in: .booting)
        plain.advanceProbeTick()
        await plain.eventually(1, in: .idle)
        #expect(plain.commands.matching("crunch-run --list").count >= 1)
        #expect(plain.commands.matching("md5sum").isEmpty)
        await plain.stop()
    }

    @Test("An idle worker is destroyed after TimeoutIdle and disappears from the pool")
    func idleTimeout() async throws {
        let harness = PoolHarness.start(configuration: PoolHarness.configuration(types: [Self.type1]))
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(1, in: .booting)
        harness.advanceProbeTick()
        await harness.eventually(1, in: .idle)
        harness.clock.advance(by: .seconds(61))
        await harness.eventually(1, in: .shutdown)
        await harness.waitForCloud(instances: 0)
        harness.advanceSync()
        await harness.eventually("the worker is gone") { await $0.instances().isEmpty }
        #expect(harness.metrics.counterValue(PoolMetrics.Name.instancesDisappeared, ["state": "shutdown"]) == 1)
        #expect(harness.metrics.timerValues(PoolMetrics.Name.timeFromShutdownToGone).count == 1)
        await harness.stop()
    }

    @Test("A worker that never boots is destroyed after TimeoutBooting with a failure outcome")
    func bootTimeout() async throws {
        var parameters = PoolHarness.parameters()
        parameters.bootTime = .init(min: .seconds(7200), max: .seconds(7200))
        let harness = PoolHarness.start(
            configuration: PoolHarness.configuration(types: [Self.type1]),
            parameters: parameters
        )
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(1, in: .booting)
        harness.advanceProbeTick()
        await harness.waitForCommands("true", count: 1)
        await harness.waitForProbes()
        #expect(await harness.pool.instances().first?.workerState == .booting)
        harness.clock.advance(by: .seconds(601))
        await harness.eventually(1, in: .shutdown)
        #expect(harness.metrics.counterValue(PoolMetrics.Name.bootOutcomes, ["outcome": "failure"]) == 1)
        await harness.stop()
    }

    @Test("A busy worker whose run probes fail for TimeoutProbe is destroyed")
    func probeTimeout() async throws {
        let failing = Mutex(false)
        let harness = PoolHarness.start(
            configuration: PoolHarness.configuration(types: [Self.type1]),
            override: { command in
                failing.withLock { $0 } && command.contains("--list") ? CommandResult(exitStatus: 1) : nil
            }
        )
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(1, in: .booting)
        harness.advanceProbeTick()
        await harness.eventually(1, in: .idle)
        #expect(await harness.pool.startContainer(Fixtures.container(1), type: Self.type1.name))
        await harness.eventually(1, in: .running)
        failing.withLock { $0 = true }
        let listed = harness.commands.matching("--list").count
        harness.clock.advance(by: .seconds(500))
        await harness.waitForCommands("--list", count: listed + 1)
        await harness.waitForProbes()
        #expect(await harness.pool.instances().first?.workerState == .running)
        harness.clock.advance(by: .seconds(101))
        await harness.eventually(1, in: .shutdown)
        await harness.stop()
    }
}

extension PoolHarness {
    /// Waits until no probe is in flight (a finished probe that changes nothing notifies nobody).
    func waitForProbes(sourceLocation: SourceLocation = #_sourceLocation) async {
        for _ in 0..<100_000 {
            if await !self.pool.anyProbing() { return }
            await Task.yield()
        }
        Issue.record("a probe never finished", sourceLocation: sourceLocation)
    }

    /// Waits until the simulated cloud lists `instances` instances (destroys run in the background).
    func waitForCloud(instances count: Int, sourceLocation: SourceLocation = #_sourceLocation) async {
        for _ in 0..<100_000 {
            if await self.cloud.instanceCount == count { return }
            await Task.yield()
        }
        Issue.record("the cloud never had \(count) instances", sourceLocation: sourceLocation)
    }

    /// The ID of the pool's only worker.
    func onlyInstanceID() async throws -> InstanceID {
        let ids = await self.pool.instances().compactMap(\.instance)
        try #require(ids.count == 1)
        return ids[0]
    }
}
