import ArvadosAPI
import CloudDriver
import ContainerQueue
import DispatchModel
import Foundation
import Scheduler
import WorkerPool

/// The container queue, as the scheduling loop sees it.
struct QueueForScheduling: SchedulingQueue {
    let queue: ContainerQueue<ContinuousClock>
    /// The queue client's transport, whose retried 503s count too.
    var transport: PoliteTransport<ContinuousClock>? = nil

    func schedulingSnapshot() async -> QueueSnapshot {
        let (entries, threshold) = await self.queue.entries()
        return QueueSnapshot(entries: Array(entries.values), updatedAt: threshold.map(Self.wallTime))
    }

    /// The last 503 the queue saw or its client retried (Arvados's `Client.Last503()` counts both).
    func last503() async -> Timestamp? {
        // Both recorded in wall time when the 503 arrived, so the value is the same from pass to pass.
        let retried = await self.transport?.lastServiceUnavailableDate.map(Timestamp.init)
        return [await self.queue.last503Timestamp(), retried].compactMap { $0 }.max()
    }

    func changes() async -> AsyncStream<Void> { await self.queue.subscribe() }
    func lock(_ uuid: ContainerUUID) async throws { try await self.queue.lock(uuid) }
    func unlock(_ uuid: ContainerUUID) async throws { try await self.queue.unlock(uuid) }
    func cancel(_ uuid: ContainerUUID) async throws { try await self.queue.cancel(uuid) }
    func forget(_ uuid: ContainerUUID) async { await self.queue.forget(uuid) }

    /// The wall-clock time of a monotonic instant in the past.
    static func wallTime(_ instant: ContinuousClock.Instant) -> Timestamp {
        let age = instant.duration(to: ContinuousClock.now)
        let seconds = Double(age.components.seconds) + Double(age.components.attoseconds) * 1e-18
        return Timestamp(Date().addingTimeInterval(-seconds))
    }
}

/// The worker pool, as the scheduling loop sees it.
struct PoolForScheduling<Instances: InstanceSet>: SchedulingPool {
    let pool: WorkerPool<Instances, ContinuousClock>

    func waitUntilLoaded() async { await self.pool.waitUntilLoaded() }

    func schedulingSnapshot() async -> PoolSnapshot {
        let state = await self.pool.schedulingState()
        var holds: Set<CapacityScope> = []
        for name in state.typesAtCapacity {
            guard let type = self.pool.configuration.instanceTypes[name] else { continue }
            holds.insert(.instanceType(providerType: type.providerType, preemptible: type.preemptible))
        }
        return PoolSnapshot(
            instances: state.instances.map { view in
                InstanceSnapshot(
                    id: view.instance,
                    type: view.instanceType,
                    state: view.workerState,
                    idleBehavior: view.idleBehavior,
                    runningContainers: view.runningContainerUUIDs,
                    lastBusy: view.lastBusy
                )
            },
            runners: state.runners.mapValues { PoolSnapshot.Runner(exitedAt: $0) },
            atQuota: state.atQuota,
            quotaHeld: state.quotaHeld,
            quotaErrors: state.quotaErrors,
            maxInstances: state.maxInstances,
            createBudget: state.createBudget,
            capacityHolds: holds
        )
    }

    func changes() async -> AsyncStream<Void> { await self.pool.subscribe() }
    func create(_ type: InstanceType) async -> Bool { await self.pool.create(type) }

    func startContainer(_ container: Container, on id: InstanceID) async -> Bool {
        await self.pool.startContainer(container, on: id)
    }

    func shutdown(_ id: InstanceID) async -> Bool { await self.pool.shutdown(id) }

    func killContainer(_ uuid: ContainerUUID, reason: String) async -> Bool {
        await self.pool.killContainer(uuid, reason: reason)
    }

    func forgetContainer(_ uuid: ContainerUUID) async { await self.pool.forgetContainer(uuid) }
}
