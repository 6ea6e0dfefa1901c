package import ArvadosAPI
package import CloudDriver
package import ContainerQueue
package import DispatchModel
import Foundation
package import Scheduler
package import WorkerPool

/// The container queue, as the scheduling loop sees it.
package struct QueueForScheduling<C: Clock>: SchedulingQueue where C.Duration == Duration {
    let queue: ContainerQueue<C>
    /// The queue client's transport, whose retried 503s count too.
    var transport: PoliteTransport<C>? = nil

    package init(queue: ContainerQueue<C>, transport: PoliteTransport<C>? = nil) {
        self.queue = queue
        self.transport = transport
    }

    package func schedulingSnapshot() async -> QueueSnapshot {
        // The queue reads its wall clock where an update begins: nothing to convert here.
        let (entries, version, threshold) = await self.queue.schedulingEntries()
        return QueueSnapshot(entries: entries, updatedAt: threshold, version: version)
    }

    /// The last 503 the queue saw or its client retried (Arvados's `Client.Last503()` counts both).
    package func last503() async -> Timestamp? {
        // Both recorded in wall time when the 503 arrived, so the value is the same from pass to pass.
        let retried = await self.transport?.lastServiceUnavailableDate.map(Timestamp.init)
        return [await self.queue.last503Timestamp(), retried].compactMap { $0 }.max()
    }

    package func changes() async -> AsyncStream<Void> { await self.queue.subscribe() }
    package func lock(_ uuid: ContainerUUID) async throws { try await self.queue.lock(uuid) }
    package func unlock(_ uuid: ContainerUUID) async throws { try await self.queue.unlock(uuid) }
    package func cancel(_ uuid: ContainerUUID) async throws { try await self.queue.cancel(uuid) }
    package func forget(_ uuid: ContainerUUID) async { await self.queue.forget(uuid) }

    package func requeue(_ uuid: ContainerUUID, note: [String: JSONValue]) async throws {
        try await self.queue.requeue(uuid, note: note)
    }

    package func noteRuntimeStatus(_ uuid: ContainerUUID, _ note: [String: JSONValue]) async throws {
        try await self.queue.noteRuntimeStatus(uuid, note)
    }
}

/// The worker pool, as the scheduling loop sees it.
package struct PoolForScheduling<Instances: InstanceSet, C: Clock>: SchedulingPool where C.Duration == Duration {
    let pool: WorkerPool<Instances, C>
    /// The daily spend, when `MaxSpendPerDay` is set.
    var accountant: SpendAccountant? = nil
    /// Whether the snapshot carries the pool's preemption counts (`PreemptionBudget` is set).
    var countsPreemptions = false
    package init(pool: WorkerPool<Instances, C>) { self.pool = pool }

    /// A pool whose snapshots carry its preemption counts when `countsPreemptions` (`PreemptionBudget` is set).
    package init(pool: WorkerPool<Instances, C>, countsPreemptions: Bool) {
        self.pool = pool
        self.countsPreemptions = countsPreemptions
    }

    init(pool: WorkerPool<Instances, C>, accountant: SpendAccountant?, countsPreemptions: Bool = false) {
        self.pool = pool
        self.accountant = accountant
        self.countsPreemptions = countsPreemptions
    }

    package func waitUntilLoaded() async { await self.pool.waitUntilLoaded() }

    package func schedulingSnapshot() async -> PoolSnapshot {
        let state = await self.pool.schedulingState()
        var holds: Set<CapacityScope> = []
        for name in state.typesAtCapacity {
            guard let type = self.pool.configuration.instanceTypes[name] else { continue }
            holds.insert(.instanceType(providerType: type.providerType, preemptible: type.preemptible))
        }
        var snapshot = PoolSnapshot(
            instances: state.passInstances,
            runners: state.runners,
            atQuota: state.atQuota,
            quotaHeld: state.quotaHeld,
            quotaErrors: state.quotaErrors,
            maxInstances: state.maxInstances,
            createBudget: state.createBudget,
            capacityHolds: holds,
            currentPrices: state.currentPrices,
            dailySpend: await self.accountant?.dailySpend(at: SpendAccounting.wallSeconds()),
            version: state.version
        )
        snapshot.layoutVersion = state.layoutVersion
        if self.countsPreemptions { snapshot.preemptions = await self.pool.preemptionCounts() }
        return snapshot
    }

    package func changes() async -> AsyncStream<Void> { await self.pool.subscribe() }
    package func create(_ type: InstanceType) async -> Bool { await self.pool.create(type) }

    package func replaceCreateBacklog(_ types: [InstanceType]) async { await self.pool.replaceCreateBacklog(types) }

    package func startContainer(_ container: Container, on id: InstanceID) async -> Bool {
        await self.pool.startContainer(container, on: id)
    }

    package func shutdown(_ id: InstanceID) async -> Bool { await self.pool.shutdown(id) }

    package func killContainer(_ uuid: ContainerUUID, reason: String) async -> Bool {
        await self.pool.killContainer(uuid, reason: reason)
    }

    package func containerFinished(_ uuid: ContainerUUID) async { await self.pool.containerFinished(uuid) }

    package func forgetContainer(_ uuid: ContainerUUID) async { await self.pool.forgetContainer(uuid) }
}
