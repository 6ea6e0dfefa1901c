import CloudDriver
import CloudDriverSimulated
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import RemoteExecution
import Synchronization
import Testing

@testable import WorkerPool

/// Workers over their life: restart adoption, drain, containers, the TERM loop, disappearance and metrics
/// (Arvados's `TestResumeAfterRestart`, `TestDrain`, reference §2).
@Suite("Worker pool workers")
struct PoolWorkerTests {
    static let type1 = Fixtures.instanceType(1)
    static let type2 = Fixtures.instanceType(2)
    static let type4 = Fixtures.instanceType(4)

    /// Starts a pool and brings one worker of `type` to idle.
    static func idleWorker(
        _ type: InstanceType = Self.type1,
        override: (@Sendable (String) -> CommandResult?)? = nil,
        noopMetrics: Bool = false,
        configure: (inout Pool.Configuration) -> Void = { _ in }
    ) async throws -> (PoolHarness, InstanceID) {
        var configuration = PoolHarness.configuration(types: [type])
        configure(&configuration)
        let harness = PoolHarness.start(
            configuration: configuration,
            override: override,
            noopMetrics: noopMetrics
        )
        #expect(await harness.pool.create(type))
        await harness.eventually(1, in: .booting)
        harness.advanceProbeTick()
        await harness.eventually(1, in: .idle)
        return (harness, try await harness.onlyInstanceID())
    }

    @Test("After a restart, listed instances come up unknown, keep hold and drain, and keep their containers")
    func resumeAfterRestart() async throws {
        let configuration = PoolHarness.configuration(types: [Self.type1, Self.type2, Self.type4])
        let first = PoolHarness.start(configuration: configuration)
        for type in [Self.type1, Self.type1, Self.type2, Self.type4] { #expect(await first.pool.create(type)) }
        await first.eventually(4, in: .booting)
        first.advanceProbeTick()
        await first.eventually(4, in: .idle)
        let views = await first.pool.instances()
        let type2ID = try #require(views.first { $0.instanceType == Self.type2 }?.instance)
        let type4ID = try #require(views.first { $0.instanceType == Self.type4 }?.instance)
        try await first.pool.setIdleBehavior(type2ID, .hold)
        let cloud = first.cloud
        await first.eventually("the hold is saved in the tags") { _ in
            let listed = (try? await cloud.instances(tagged: [:])) ?? []
            return listed.first { $0.id == type2ID }?.tags["ArvadosIdleBehavior"] == "hold"
        }
        let container = Fixtures.container(1)
        #expect(await first.pool.startContainer(container, type: Self.type1.name))
        await first.eventually("the runner started") { _ in first.commands.matching("--detach").count == 1 }
        let busyID = try #require(await first.pool.instances().first { $0.workerState == .running }?.instance)
        try await first.pool.setIdleBehavior(busyID, .drain)
        await first.eventually("the drain is saved in the tags") { _ in
            let listed = (try? await cloud.instances(tagged: [:])) ?? []
            return listed.first { $0.id == busyID }?.tags["ArvadosIdleBehavior"] == "drain"
        }
        await first.stop()
        #expect(await !first.pool.create(Self.type1))
        #expect(await cloud.instanceCount == 4)

        // type4 is no longer configured.
        let second = PoolHarness.start(
            configuration: PoolHarness.configuration(types: [Self.type1, Self.type2]),
            clock: first.clock,
            cloud: cloud
        )
        let counts = await second.pool.countWorkers()
        #expect(counts[.unknown] == 4)
        let adopted = await second.pool.instances()
        #expect(adopted.map(\.instance) == views.map(\.instance))
        #expect(adopted.first { $0.instance == type2ID }?.idleBehavior == .hold)
        #expect(adopted.first { $0.instance == type4ID }?.idleBehavior == .drain)
        #expect(adopted.first { $0.instance == type4ID }?.instanceType.name == Self.type4.name)
        #expect(adopted.first { $0.instance == busyID }?.idleBehavior == .drain)
        #expect(
            adopted.filter { $0.instanceType.name == Self.type1.name && $0.instance != busyID }
                .allSatisfy { $0.idleBehavior == .run }
        )

        second.advanceProbeTick()
        await second.eventually("the container is adopted") { pool in
            await pool.instances().contains {
                $0.runningContainerUUIDs == [container.uuid] && $0.workerState == .running
            }
        }
        await second.eventually("every worker is probed") { pool in
            await pool.instances().allSatisfy { $0.workerState != .unknown }
        }
        let running = await second.pool.running()
        #expect(running.count == 1 && running[container.uuid] == .some(nil))
        second.advanceProbeTick()
        await second.eventually("the worker of an unconfigured type is drained and shut down") { pool in
            await pool.instances().first { $0.instance == type4ID }?.workerState == .shutdown
        }
        #expect(await second.pool.instances().first { $0.instance == type2ID }?.workerState == .idle)
        await second.stop()
    }

    @Test("Probe starts are limited to MaxProbesPerSecond")
    func maxProbesPerSecond() async throws {
        var configuration = PoolHarness.configuration(types: [Self.type1])
        configuration.maxProbesPerSecond = 1
        let harness = PoolHarness.start(configuration: configuration)
        for _ in 0..<3 { #expect(await harness.pool.create(Self.type1)) }
        await harness.eventually(3, in: .booting)
        harness.advanceProbeTick()
        await harness.waitForCommands("true", count: 1)
        for probes in 2...3 {
            // The sync loop and the probe pacing are asleep.
            await harness.clock.waitForSleepers(2)
            #expect(harness.commands.matching("true").count == probes - 1)
            harness.clock.advance(by: .seconds(1))
            await harness.waitForCommands("true", count: probes)
        }
        await harness.eventually(3, in: .idle)
        await harness.stop()
    }

    @Test("A round over more workers than MaxProbesPerSecond × ProbeInterval still ends within one ProbeInterval")
    func probeRoundFitsTheInterval() async throws {
        // 40 workers at 1 probe a second would take 40 s a round (Arvados's rule); the round is paced at
        // 40 / 10 s = 4 a second instead, so every worker is probed within the 10 s interval.
        var configuration = PoolHarness.configuration(types: [Self.type1])
        configuration.maxProbesPerSecond = 1
        configuration.probeInterval = .seconds(10)
        #expect(configuration.probeRate(workers: 40) == 4)
        #expect(configuration.probeRate(workers: 3) == 1)
        let harness = PoolHarness.start(configuration: configuration)
        for _ in 0..<40 { #expect(await harness.pool.create(Self.type1)) }
        await harness.eventually(40, in: .booting)
        harness.advanceProbeTick()
        await harness.waitForCommands("true", count: 1)
        var seconds = 0
        while harness.commands.matching("true").count < 40 && seconds < 40 {
            // The sync loop and the probe pacing are asleep.
            await harness.clock.waitForSleepers(2)
            harness.clock.advance(by: .seconds(1))
            seconds += 1
            await harness.waitForCommands("true", count: min(40, 4 + 4 * seconds))
        }
        #expect(harness.commands.matching("true").count == 40)
        #expect(seconds <= 9, "the round took \(seconds) s after its first second's burst")
        let round = try #require(harness.metrics.lastRecordedValue(PoolMetrics.Name.probeRound))
        #expect(round >= 8 && round <= 10, "probe round gauge: \(round)")
        await harness.stop()
    }

    @Test("A worker never has two probes in flight")
    func oneProbeAtATime() async throws {
        let gate = CommandGate(holding: "--list")
        let harness = PoolHarness.start(configuration: PoolHarness.configuration(types: [Self.type1]), gate: gate)
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(1, in: .booting)
        for _ in 0..<3 {
            harness.advanceProbeTick()
            // The sync loop and the probe loop are asleep again: the round is over.
            await harness.clock.waitForSleepers(2)
        }
        #expect(harness.commands.matching("--list").count == 1)
        #expect(harness.commands.matching("true").count == 1)
        gate.open()
        await harness.eventually(1, in: .idle)
        await harness.stop()
    }

    @Test("A worker whose runner reports broken is drained, counted as a failed boot, and shut down")
    func brokenNode() async throws {
        var parameters = PoolHarness.parameters()
        parameters.brokenRate = 1
        let harness = PoolHarness.start(
            configuration: PoolHarness.configuration(types: [Self.type1]),
            parameters: parameters
        )
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(1, in: .booting)
        harness.advanceProbeTick()
        await harness.eventually("the worker drains") { await $0.instances().first?.idleBehavior == .drain }
        #expect(harness.metrics.counterValue(PoolMetrics.Name.bootOutcomes, ["outcome": "failure"]) == 1)
        #expect(harness.metrics.counterValue(PoolMetrics.Name.bootOutcomes, ["outcome": "success"]) == 0)
        #expect(await !harness.pool.startContainer(Fixtures.container(1), type: Self.type1.name))
        harness.advanceProbeTick()
        await harness.eventually(1, in: .shutdown)
        await harness.stop()
    }

    @Test("A kill reaches the worker a container runs on now, not the one the last scheduling state showed")
    func killFollowsAMovedRunner() async throws {
        let harness = PoolHarness.start(configuration: PoolHarness.configuration(types: [Self.type1]))
        #expect(await harness.pool.create(Self.type1))
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(2, in: .booting)
        harness.advanceProbeTick()
        await harness.eventually(2, in: .idle)
        let ids = await harness.pool.instances().compactMap(\.instance)
        let (first, second) = (ids[0], ids[1])
        let uuid = Fixtures.container(1).uuid

        #expect(await harness.pool.startContainer(Fixtures.container(1), on: first))
        await harness.eventually("the runner started") { await $0.machine(of: first)?.starting.isEmpty == true }
        // The scheduling state now shows the runner on the first worker.
        #expect(await harness.pool.schedulingState().runners[uuid] == RunnerStatus())
        #expect(await harness.pool.killContainer(uuid, reason: "test"))
        await harness.eventually("the runner ended") { await $0.running()[uuid] != .some(nil) }
        await harness.pool.forgetContainer(uuid)

        // Started again on the second worker, with no scheduling state taken since.
        #expect(await harness.pool.startContainer(Fixtures.container(1), on: second))
        await harness.eventually("the runner started again") {
            await $0.machine(of: second)?.starting.isEmpty == true
        }
        let kills = harness.commands.matching("--kill").count { $0.instance == second }
        #expect(await harness.pool.killContainer(uuid, reason: "again"))
        await harness.eventually("the second worker was sent the kill") { _ in
            harness.commands.matching("--kill").count { $0.instance == second } > kills
        }
        await harness.stop()
    }

    @Test("Only idle workers that run containers take new ones")
    func drain() async throws {
        let (harness, id) = try await Self.idleWorker()
        try await harness.pool.setIdleBehavior(id, .hold)
        #expect(await !harness.pool.startContainer(Fixtures.container(1), type: Self.type1.name))
        try await harness.pool.setIdleBehavior(id, .run)
        #expect(await harness.pool.startContainer(Fixtures.container(1), type: Self.type1.name))
        #expect(await harness.pool.instances().first?.workerState == .running)
        #expect(await !harness.pool.startContainer(Fixtures.container(2), type: Self.type1.name))
        // Packing: the scheduler may add a container to a running worker by ID.
        #expect(await harness.pool.startContainer(Fixtures.container(2), on: id))
        try await harness.pool.setIdleBehavior(id, .drain)
        #expect(await !harness.pool.startContainer(Fixtures.container(3), on: id))
        #expect(await harness.pool.instances().first?.workerState == .running)

        // Both runners stop at the first SIGTERM; the drained worker then shuts down.
        await harness.eventually("both runners started") { await $0.machine(of: id)?.starting.isEmpty == true }
        #expect(await harness.pool.killContainer(Fixtures.container(1).uuid, reason: "test"))
        #expect(await harness.pool.killContainer(Fixtures.container(2).uuid, reason: "test"))
        await harness.eventually("both runners ended") { pool in
            let running = await pool.running()
            return running.count == 2 && running.values.allSatisfy { $0 != nil }
        }
        harness.advanceProbeTick()
        await harness.eventually(1, in: .shutdown)
        #expect(await !harness.pool.killContainer(Fixtures.container(9).uuid, reason: "test"))
        await harness.pool.forgetContainer(Fixtures.container(1).uuid)
        #expect(await Array(harness.pool.running().keys) == [Fixtures.container(2).uuid])
        await harness.stop()
    }

    @Test("Runner commands get sudo when the remote user is not root; the boot probe and md5sum do not")
    func sudo() async throws {
        var parameters = PoolHarness.parameters()
        parameters.remoteUser = "admin"
        let harness = PoolHarness.start(
            configuration: PoolHarness.configuration(types: [Self.type1]),
            parameters: parameters
        )
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(1, in: .booting)
        harness.advanceProbeTick()
        await harness.eventually(1, in: .idle)
        let commands = harness.commands.all.map(\.command)
        #expect(commands.contains("true"))
        #expect(commands.contains { $0.hasPrefix("md5sum ") })
        #expect(commands.contains { $0.hasPrefix("sudo sh -c 'set -e; dstdir=") })
        #expect(
            commands.contains { $0.hasPrefix("sudo /tmp/arvados-crunch-run/crunch-run~") && $0.hasSuffix(" --list") }
        )
        await harness.stop()
    }

    @Test("A runner start sends --detach with the runner configuration on stdin")
    func startRunner() async throws {
        let (harness, _) = try await Self.idleWorker()
        var container = Fixtures.container(1)
        container.createdAt = Timestamp(secondsSince1970: 1_800_000_000 - 30)
        container.state = .locked
        container.command = ["echo", "hello"]
        #expect(await harness.pool.startContainer(container, type: Self.type1.name))
        let uuid = container.uuid
        await harness.eventually("the runner started") { pool in
            await pool.instances().first?.lastContainerUUID == uuid
        }
        let detach = try #require(harness.commands.matching("--detach").first)
        #expect(detach.command.hasSuffix("--detach --stdin-config '--runtime-engine=docker' '\(container.uuid)'"))
        let config = try JSONDecoder().decode(JSONValue.self, from: Data(detach.stdin))
        guard case .object(let object) = config, case .object(let environment)? = object["Env"] else {
            Issue.record("stdin is not a ConfigData object")
            return
        }
        #expect(environment["ARVADOS_API_HOST"] == .string("127.0.0.1:1"))
        #expect(environment["ARVADOS_API_TOKEN"] == .string("systemroottoken"))
        #expect(environment["GatewayAddress"] == .string("sim1.simulated.invalid:0"))
        #expect(
            environment["GatewayAuthSecret"]
                == .string(Digests.gatewayAuthSecret(uuid: container.uuid.rawValue, systemRootToken: "systemroottoken"))
        )
        #expect(object["KeepBuffers"] == .int(1))
        #expect(object["EC2SpotCheck"] == .bool(false))
        #expect(object["Cluster"] == .null)
        // The locked record goes along, so the runner can start the process before its first API request.
        let record = try #require(object["Container"])
        #expect(try JSONDecoder().decode(Container.self, from: JSONEncoder().encode(record)) == container)
        // A polled record (no command: polls select only what scheduling needs) is not sent; the runner fetches.
        var polled = container
        polled.command = []
        #expect(type(of: harness.pool).runnerRecord(polled) == nil)
        #expect(type(of: harness.pool).runnerRecord(container) == container)
        #expect(harness.metrics.timerValues(PoolMetrics.Name.timeFromQueueToRunner).count == 1)
        await harness.stop()
    }

    @Test(
        "ConfigData as runner.go: EC2SpotCheck only for a preemptible type on ec2, KeepBuffers and Cluster only when LocalKeepBlobBuffersPerVCPU > 0",
        arguments: [
            (true, true, 2, true, 4), (true, false, 2, false, 4), (false, true, 2, false, 4),
            (true, true, 0, true, 0),
        ]
    )
    func configDataRules(ec2: Bool, preemptible: Bool, perVCPU: Int, spotCheck: Bool, buffers: Int) async throws {
        var type = Fixtures.instanceType(2)
        type.preemptible = preemptible
        let (harness, _) = try await Self.idleWorker(
            type,
            configure: { configuration in
                configuration.ec2SpotCheck = ec2
                configuration.localKeepBlobBuffersPerVCPU = perVCPU
                configuration.clusterConfig = .object(["ClusterID": .string("zzzzz")])
                configuration.apiScheme = "http"
            }
        )
        var container = Fixtures.container(1)
        container.state = .locked
        #expect(await harness.pool.startContainer(container, type: type.name))
        let detach = try #require(await eventually { harness.commands.matching("--detach").first })
        guard case .object(let object) = try JSONDecoder().decode(JSONValue.self, from: Data(detach.stdin)) else {
            Issue.record("stdin is not a ConfigData object")
            return
        }
        #expect(object["EC2SpotCheck"] == .bool(spotCheck))
        #expect(object["KeepBuffers"] == .int(Int64(buffers)))
        #expect(object["Cluster"] == (perVCPU > 0 ? .object(["ClusterID": .string("zzzzz")]) : .null))
        #expect(object["APIScheme"] == .string("http"))
        await harness.stop()
    }

    @Test(
        "The configuration's Cluster member, encoded once and put in place, gives the bytes encoding it in place gives"
    )
    func configDataClusterBytes() async throws {
        // Strings that hold the member's own text, and a nested member of the same name, must stay as they are.
        let cluster: JSONValue = .object([
            "API": .object(["Cluster": .null, "Note": .string(#"{"Cluster":null}"#)]),
            "ClusterID": .string("zzzzz"),
            "Path": .string("a/b"),
        ])
        let (harness, _) = try await Self.idleWorker(
            Self.type1,
            configure: { configuration in
                configuration.localKeepBlobBuffersPerVCPU = 1
                configuration.clusterConfig = cluster
                configuration.apiScheme = #""Cluster":null"#
            }
        )
        var container = Fixtures.container(1)
        container.state = .locked
        #expect(await harness.pool.startContainer(container, type: Self.type1.name))
        let detaches = await eventually {
            let found = harness.commands.matching("--detach")
            return found.isEmpty ? nil : found
        }
        for detach in try #require(detaches) {
            let parsed = try JSONDecoder().decode(JSONValue.self, from: Data(detach.stdin))
            guard case .object(var object) = parsed else {
                Issue.record("stdin is not a ConfigData object")
                return
            }
            #expect(object["Cluster"] == cluster)
            #expect(object["APIScheme"] == .string(#""Cluster":null"#))
            // Written whole, in place, as the pool writes JSON (keys sorted): the same bytes.
            object["Cluster"] = cluster
            #expect(JSONValue.object(object).jsonBytes == detach.stdin)
        }
        await harness.stop()
    }

    @Test("A Complete container's runner frees its slot at once and is never sent --kill once a probe finds it gone")
    func finishedRunnerWithoutKill() async throws {
        // The runner is listed until the test says it exited (its lock released).
        let exited = Mutex(false)
        let (harness, id) = try await Self.idleWorker(override: { command in
            command.contains("--list") && exited.withLock({ $0 }) ? CommandResult(exitStatus: 0) : nil
        })
        let uuid = Fixtures.container(1).uuid
        #expect(await harness.pool.startContainer(Fixtures.container(1), type: Self.type1.name))
        await harness.eventually("the runner started") { await $0.machine(of: id)?.running[uuid] != nil }
        await harness.pool.containerFinished(uuid)
        let state = await harness.pool.schedulingState()
        #expect(state.finishing == [uuid])
        #expect(
            state.runners[uuid] == RunnerStatus(finishing: true),
            "still there for the scheduler, alive and finishing"
        )
        #expect(state.instances.first?.runningContainerUUIDs == [])
        #expect(state.instances.first?.workerState == .idle)
        // Another container may start on the worker at once.
        #expect(await harness.pool.startContainer(Fixtures.container(2), type: Self.type1.name))
        exited.withLock { $0 = true }
        harness.advanceProbeTick()
        await harness.eventually("the finished runner ended") { pool in
            (await pool.running()[uuid] ?? nil) != nil
        }
        #expect(harness.commands.matching("--kill").isEmpty)
        await harness.stop()
    }

    @Test("A runner that ignores SIGTERM gets it every TimeoutSignal until TimeoutTERM, then the worker drains")
    func termLoopThenDrain() async throws {
        let (harness, id) = try await Self.idleWorker(override: { command in
            command.contains("--kill") ? CommandResult(stderr: "still running", exitStatus: 1) : nil
        })
        let uuid = Fixtures.container(1).uuid
        #expect(await harness.pool.startContainer(Fixtures.container(1), type: Self.type1.name))
        await harness.eventually("the runner started") { await $0.instances().first?.lastContainerUUID == uuid }
        #expect(await harness.pool.killContainer(uuid, reason: "test"))
        #expect(await harness.pool.killContainer(uuid, reason: "again"))
        var sent = 1
        await harness.waitForCommands("--kill 15 \(uuid)", count: sent)
        // 120 s of SIGTERM every 5 s: 24 more attempts, then one tick past TimeoutTERM gives up.
        while sent < 25 {
            harness.clock.advance(by: .seconds(5))
            sent += 1
            await harness.waitForCommands("--kill 15 \(uuid)", count: sent)
            #expect(await harness.pool.instances().first?.idleBehavior == .run)
        }
        harness.clock.advance(by: .seconds(5))
        await harness.eventually("the worker drains and shuts down") { pool in
            let view = await pool.instances().first
            return view?.idleBehavior == .drain && view?.workerState == .shutdown
        }
        #expect(harness.commands.matching("--kill 15 \(uuid)").count == 25)
        #expect(harness.commands.all.allSatisfy { !$0.command.contains("--kill 9") && !$0.command.contains("KILL") })
        _ = id
        await harness.stop()
    }

    @Test("An instance's first-seen time is when it appeared: it stays put while the clock runs")
    func firstSeen() async throws {
        let (harness, _) = try await Self.idleWorker()
        let before = try #require(await harness.pool.instances().first?.firstSeenAt)
        let busy = try #require(await harness.pool.instances().first?.lastBusy)
        #expect(before.date <= busy.date)
        harness.clock.advance(by: .seconds(30))
        let after = try #require(await harness.pool.instances().first?.firstSeenAt)
        #expect(abs(after.date.timeIntervalSince(before.date)) < 0.001)
        await harness.stop()
    }

    @Test(
        "First-seen and last-busy times are the wall-clock times read when they happened: a wall-clock step later moves neither"
    )
    func wallTimesRecordedWhenTheyHappen() async throws {
        let (harness, id) = try await Self.idleWorker()
        let seen = try #require(await harness.pool.instances().first?.firstSeenAt)
        let busy = try #require(await harness.pool.instances().first?.lastBusy)
        // The wall clock steps an hour (NTP, an operator) while the monotonic clock stands still.
        harness.wallClockStep.jump(by: .seconds(3600))
        let stepped = try #require(await harness.pool.instances().first)
        #expect(stepped.firstSeenAt == seen)
        #expect(stepped.lastBusy == busy)
        // The next busy time is read from the stepped wall clock, as it happens.
        harness.clock.advance(by: .seconds(2))
        #expect(await harness.pool.startContainer(Fixtures.container(1), on: id))
        await harness.eventually("the runner started") { await $0.running()[Fixtures.container(1).uuid] != nil }
        await harness.eventually("the worker is busy") {
            await $0.instances().first?.lastBusy != busy
        }
        let running = try #require(await harness.pool.instances().first)
        let wallNow = Timestamp(secondsSince1970: 1_800_000_000 + harness.clock.now.offset.components.seconds)
        #expect(running.lastBusy == wallNow.advanced(by: .seconds(3600)))
        #expect(running.firstSeenAt == seen)
        await harness.stop()
    }

    @Test("An instance gone from the cloud list is removed and counted by state")
    func disappearance() async throws {
        let (harness, id) = try await Self.idleWorker()
        let instance = try #require(try await harness.cloud.instances(tagged: [:]).first)
        try await instance.destroy()
        harness.advanceSync()
        await harness.eventually("the worker is gone") { await $0.instances().isEmpty }
        #expect(harness.metrics.counterValue(PoolMetrics.Name.instancesDisappeared, ["state": "idle"]) == 1)
        #expect(harness.metrics.counterValue(PoolMetrics.Name.bootOutcomes, ["outcome": "disappeared"]) == 0)
        await #expect(throws: WorkerPoolError.self) { try await harness.pool.killInstance(id, reason: "gone") }
        await harness.stop()
    }

    @Test("A booting instance gone from the cloud list reports a disappeared boot outcome")
    func bootingDisappearance() async throws {
        let harness = PoolHarness.start(configuration: PoolHarness.configuration(types: [Self.type1]))
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(1, in: .booting)
        let instance = try #require(try await harness.cloud.instances(tagged: [:]).first)
        try await instance.destroy()
        harness.advanceSync()
        await harness.eventually("the worker is gone") { await $0.instances().isEmpty }
        #expect(harness.metrics.counterValue(PoolMetrics.Name.bootOutcomes, ["outcome": "disappeared"]) == 1)
        #expect(harness.metrics.counterValue(PoolMetrics.Name.instancesDisappeared, ["state": "booting"]) == 1)
        await harness.stop()
    }

    @Test("A shut-down instance still listed after TimeoutShutdown is destroyed again")
    func destroyRetry() async throws {
        var parameters = PoolHarness.parameters()
        parameters.shutdownTime = .init(min: .seconds(3600), max: .seconds(3600))
        parameters.errorRates.destroy = 0
        let harness = PoolHarness.start(
            configuration: PoolHarness.configuration(types: [Self.type1]),
            parameters: parameters
        )
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(1, in: .booting)
        let id = try await harness.onlyInstanceID()
        try await harness.pool.killInstance(id, reason: "test")
        #expect(harness.metrics.counterValue(PoolMetrics.Name.bootOutcomes, ["outcome": "aborted"]) == 1)
        harness.advanceSync()
        await harness.eventually("destroyed again") { pool in
            await pool.machine(of: id)?.destroyed.map(pool.clockInstant)
                == ManualClock.Instant(offset: .seconds(30))
        }
        #expect(await harness.pool.instances().first?.workerState == .shutdown)
        await harness.stop()
    }

    @Test("countWorkers waits for the first cloud list")
    func countWorkersWaits() async throws {
        let harness = PoolHarness.start(configuration: PoolHarness.configuration(types: [Self.type1]))
        #expect(await harness.pool.countWorkers() == [:])
        await harness.stop()
    }

    @Test("A pool whose metrics go nowhere does not compute its gauges; one whose metrics are recorded does")
    func gaugesOnlyWhenRecorded() async throws {
        for noop in [true, false] {
            let (harness, _) = try await Self.idleWorker(noopMetrics: noop)
            #expect(await harness.pool.startContainer(Fixtures.container(1), type: Self.type1.name))
            await harness.eventually(1, in: .running)
            let refreshes = await harness.pool.gaugeRefreshes
            if noop {
                #expect(refreshes == 0, "no-op metrics: no gauge walk")
            } else {
                #expect(refreshes > 0, "recorded metrics: the gauges follow the changes")
            }
            await harness.stop()
        }
    }

    @Test("The pool's metrics have Arvados's names and labels")
    func metricNames() async throws {
        let (harness, _) = try await Self.idleWorker()
        #expect(await harness.pool.startContainer(Fixtures.container(1), type: Self.type1.name))
        await harness.eventually(1, in: .running)
        await harness.pool.refreshMetrics()
        let rendered = Set(
            harness.metrics.allKeys.map { key in
                key.label + "{" + key.dimensions.keys.sorted().joined(separator: ",") + "}"
            }
        )
        let expected: Set<String> = [
            "arvados_dispatchcloud_containers_running{}",
            "arvados_dispatchcloud_probe_age_seconds_max{}",
            "arvados_dispatchcloud_probe_age_seconds_median{}",
            "arvados_dispatchcloud_instances_total{category,instance_type}",
            "arvados_dispatchcloud_instances_price{category}",
            "arvados_dispatchcloud_vcpus_total{category}",
            "arvados_dispatchcloud_memory_bytes_total{category}",
            "arvados_dispatchcloud_boot_outcomes{outcome}",
            "arvados_dispatchcloud_instances_disappeared{state}",
            "arvados_dispatchcloud_instances_time_to_ssh_seconds{}",
            "arvados_dispatchcloud_instances_time_to_ready_for_container_seconds{}",
            "arvados_dispatchcloud_instances_time_from_shutdown_request_to_disappearance_seconds{}",
            "arvados_dispatchcloud_containers_time_from_queue_to_crunch_run_seconds{}",
            "arvados_dispatchcloud_instances_run_probe_duration_seconds{outcome}",
            // This dispatcher's own: boot-failure quarantines.
            "arvados_dispatchcloud_boot_quarantines_total{}",
            "arvados_dispatchcloud_instance_types_quarantined{}",
            // And the last probe round's duration.
            "arvados_dispatchcloud_probe_round_duration_seconds{}",
        ]
        #expect(rendered == expected)
        let values = { (label: String, dimensions: [String: String]) in
            harness.metrics.lastRecordedValue(label, dimensions)
        }
        #expect(values(PoolMetrics.Name.containersRunning, [:]) == 1)
        #expect(values(PoolMetrics.Name.instancesTotal, ["category": "inuse", "instance_type": "type1"]) == 1)
        #expect(values(PoolMetrics.Name.instancesTotal, ["category": "idle", "instance_type": "type1"]) == 0)
        #expect(values(PoolMetrics.Name.instancesPrice, ["category": "inuse"]) == Self.type1.price)
        #expect(values(PoolMetrics.Name.vcpusTotal, ["category": "inuse"]) == 1)
        let outcomes = Set(
            harness.metrics.counterValues.keys.filter { $0.label == PoolMetrics.Name.bootOutcomes }
                .compactMap { $0.dimensions["outcome"] }
        )
        #expect(outcomes == ["success", "failure", "aborted", "disappeared"])
        #expect(!harness.metrics.timerValues(PoolMetrics.Name.runProbeDuration, ["outcome": "success"]).isEmpty)
        #expect(harness.metrics.timerValues(PoolMetrics.Name.timeToSSH).count == 1)
        await harness.stop()
    }
}

extension PoolHarness {
    /// Waits until at least `count` commands containing `fragment` have run.
    func waitForCommands(_ fragment: String, count: Int, sourceLocation: SourceLocation = #_sourceLocation) async {
        for _ in 0..<100_000 {
            if self.commands.matching(fragment).count >= count { return }
            await Task.yield()
        }
        Issue.record("fewer than \(count) commands with \(fragment)", sourceLocation: sourceLocation)
    }
}

@Suite("Instance sets opened once")
struct OpenedInstanceSetTests {
    @Test("A pool over a simulated cloud given as `any InstanceSet`, opened once, probes in process and reaches idle")
    func openedPool() async throws {
        let clock = ManualClock()
        var parameters = PoolHarness.parameters()
        parameters.seed = 2
        let cloud = SimCloud(parameters: parameters, clock: clock, logger: .init(label: "test.cloud"))
        let erased: any InstanceSet = cloud
        try await Self.run(erased, executor: { cloud.executor(for: $0) }, clock: clock)
    }

    /// Opens the existential, as the assembly does: the pool is generic over the driver's own instance set.
    private static func run<S: InstanceSet>(
        _ set: S,
        executor: @escaping @Sendable (InstanceID) -> any RemoteExecutor,
        clock: ManualClock
    ) async throws {
        let type = Fixtures.instanceType(1)
        var configuration = WorkerPool<S, ManualClock>.Configuration(
            clusterID: PoolHarness.clusterID,
            instanceSetID: PoolHarness.instanceSetID,
            instanceTypes: [type]
        )
        configuration.deployRunnerBinary = ""
        configuration.bootProbeCommand = ""
        var logger = Logger(label: "test.pool")
        logger.logLevel = .warning
        let pool = WorkerPool(
            configuration: configuration,
            instanceSet: set,
            clock: clock,
            logger: logger,
            makeExecutor: { executor($0.id) },
            metricsFactory: InMemoryMetricsFactory()
        )
        let task = Task { try await pool.run() }
        let changes = await pool.subscribe()
        #expect(await pool.create(type))
        for await _ in changes where await pool.instances().first?.instance != nil { break }
        clock.advance(by: .seconds(11))
        for await _ in changes where await pool.instances().first?.workerState == .idle { break }
        #expect(await pool.instances().first?.workerState == .idle)
        task.cancel()
        _ = await task.result
    }
}
