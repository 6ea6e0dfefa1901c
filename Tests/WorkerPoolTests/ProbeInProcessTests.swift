import CloudDriver
import CloudDriverSimulated
import DispatchModel
import DispatchTestSupport
import Testing

@testable import WorkerPool

/// An executor that answers in this process (the simulated cloud) is probed within the probe round, in the pool's
/// own turn; any other is probed in the background, so a slow instance holds up nobody.
@Suite("Probes in process")
struct ProbeInProcessTests {
    static let type1 = Fixtures.instanceType(1)

    /// A pool with one idle worker, and that worker's ID.
    static func idleWorker(
        inProcess: Bool,
        gate: CommandGate? = nil
    ) async throws -> (PoolHarness, InstanceID) {
        let (harness, ids) = try await Self.idleWorkers(1, inProcess: inProcess, gate: gate)
        return (harness, ids[0])
    }

    /// A pool with `count` idle workers, and their IDs.
    static func idleWorkers(
        _ count: Int,
        inProcess: Bool,
        gate: CommandGate? = nil
    ) async throws -> (PoolHarness, [InstanceID]) {
        let harness = PoolHarness.start(
            configuration: PoolHarness.configuration(types: [Self.type1]),
            gate: gate,
            inProcess: inProcess
        )
        for _ in 0..<count { #expect(await harness.pool.create(Self.type1)) }
        await harness.eventually(count, in: .booting)
        harness.clock.advance(by: .seconds(1))
        // The boot probe (always in the background) brings them to idle.
        harness.advanceProbeTick()
        await harness.eventually(count, in: .idle)
        let ids = await harness.pool.instances().compactMap(\.instance)
        try #require(ids.count == count)
        return (harness, ids)
    }

    @Test("A round over a worker whose executor answers in process ends with its probe applied")
    func inProcessProbeEndsWithTheRound() async throws {
        let (harness, id) = try await Self.idleWorker(inProcess: true)
        let listsBefore = harness.commands.matching("--list").count
        harness.clock.advance(by: .seconds(5))
        await harness.pool.probeTick()
        let machine = try #require(await harness.pool.machine(of: id))
        #expect(harness.commands.matching("--list").count == listsBefore + 1, "the round ran one run probe")
        #expect(!machine.probing, "the probe finished within the round")
        #expect(machine.probed == harness.pool.now, "its outcome was applied at once")
        await harness.stop()
    }

    @Test("A round over a worker reached over the network leaves its probe running in the background")
    func networkProbeRunsInTheBackground() async throws {
        let gate = CommandGate(holding: "--list")
        gate.open()
        let (harness, id) = try await Self.idleWorker(inProcess: false, gate: gate)
        gate.close()
        harness.clock.advance(by: .seconds(5))
        await harness.pool.probeTick()
        #expect(await harness.pool.machine(of: id)?.probing == true, "the round did not wait for the probe")
        gate.open()
        let finished = await eventually(timeout: .seconds(60)) {
            await harness.pool.machine(of: id)?.probing == false ? true : nil
        }
        #expect(finished == true, "the probe finishes once its command is answered")
        await harness.stop()
    }

    @Test("A worker whose instance goes while a round waits to probe it is left out of the rest of the round")
    func workerGoneDuringRound() async throws {
        let (harness, _) = try await Self.idleWorkers(2, inProcess: true)
        let order = await harness.pool.probeOrderIDs()
        try #require(order.count == 2)
        let gone = order[1]
        // The round's first probe start waits for budget; meanwhile the second worker's instance goes.
        await harness.pool.emptyProbeBudget()
        let sleepers = harness.clock.sleeperCount
        let round = Task { await harness.pool.probeTick() }
        await harness.clock.waitForSleepers(sleepers + 1)
        let instance = try #require(try await harness.cloud.instances(tagged: [:]).first { $0.id == gone })
        try await instance.destroy()
        await harness.pool.syncOnce()
        #expect(await harness.pool.machine(of: gone) == nil, "the worker is gone")
        let probes = { (id: InstanceID) in harness.commands.matching("--list").count { $0.instance == id } }
        let (firstBefore, goneBefore) = (probes(order[0]), probes(gone))
        // Budget for two starts: the round could probe both if it still held the gone worker.
        harness.clock.advance(by: .milliseconds(200))
        await round.value
        #expect(probes(order[0]) == firstBefore + 1, "the remaining worker was probed")
        #expect(probes(gone) == goneBefore, "the gone worker was not")
        #expect(await harness.pool.probeOrderIDs() == [order[0]])
        await harness.stop()
    }
}

extension WorkerPool {
    /// The IDs of the workers in probe order.
    fileprivate func probeOrderIDs() -> [InstanceID] { self.probeOrder.map(\.id) }

    /// Spends the probe-start budget, so the next start waits.
    fileprivate func emptyProbeBudget() {
        self.probeBudget = 0
        self.probeBudgetAt = self.now
    }
}
