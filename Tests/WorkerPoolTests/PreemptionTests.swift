import CloudDriver
import CloudDriverSimulated
import DispatchModel
import DispatchTestSupport
import Testing
import WorkerPool

/// An instance that vanishes under running containers without the dispatcher asking (a spot interruption)
/// counts a preemption against each of them, by instance type; one the dispatcher destroyed does not.
@Suite("Preemptions")
struct PreemptionTests {
    @Test("A running instance gone from the cloud list counts a preemption per container and type")
    func vanishedUnderContainers() async throws {
        let (harness, id) = try await PoolWorkerTests.idleWorker()
        let uuid = Fixtures.container(1).uuid
        #expect(await harness.pool.startContainer(Fixtures.container(1), on: id))
        await harness.eventually("the runner started") { await $0.instances().first?.lastContainerUUID == uuid }
        let instance = try #require(try await harness.cloud.instances(tagged: [:]).first)
        try await instance.destroy()
        harness.advanceSync()
        await harness.eventually("the worker is gone") { await $0.instances().isEmpty }
        #expect(await harness.pool.preemptionCounts() == [uuid: 1])
        // Counts an earlier process saved add up with this one's.
        await harness.pool.restorePreemptions([uuid: 2, Fixtures.container(9).uuid: 1])
        #expect(await harness.pool.preemptionCounts() == [uuid: 3, Fixtures.container(9).uuid: 1])
        let type = PoolWorkerTests.type1.name.rawValue
        #expect(harness.metrics.counterValue("arvados_dispatchcloud_preemptions_total", ["instance_type": type]) == 1)
        await harness.stop()
    }

    @Test("An idle instance that vanished counts no preemption")
    func idleVanished() async throws {
        let (harness, _) = try await PoolWorkerTests.idleWorker()
        let instance = try #require(try await harness.cloud.instances(tagged: [:]).first)
        try await instance.destroy()
        harness.advanceSync()
        await harness.eventually("the idle worker is gone") { await $0.instances().isEmpty }
        #expect(await harness.pool.preemptionCounts().isEmpty)
        let type = PoolWorkerTests.type1.name.rawValue
        #expect(harness.metrics.counterValue("arvados_dispatchcloud_preemptions_total", ["instance_type": type]) == nil)
        await harness.stop()
    }
}
