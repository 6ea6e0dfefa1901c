import CloudDriver
import ContainerQueue
import DispatchModel
import ManagementAPI
import Scheduler
import WorkerPool

/// The running dispatcher as the management API sees it: the pool's instances, the scheduler's queue with
/// each entry's status, and the operator's hold, drain, run and kill requests.
struct DispatcherManagement<Instances: InstanceSet>: DispatcherControl {
    let pool: WorkerPool<Instances, ContinuousClock>
    let queue: ContainerQueue<ContinuousClock>
    let scheduler: SchedulingLoop<ContinuousClock>

    func instances() async -> [ManagedInstance] {
        await self.pool.instances().map { view in
            ManagedInstance(
                instance: view.instance,
                address: view.address,
                price: view.price,
                arvadosInstanceType: view.instanceType.name,
                providerInstanceType: view.instanceType.providerType,
                lastContainerUUID: view.lastContainerUUID,
                lastBusy: view.lastBusy,
                runningContainerUUIDs: view.runningContainerUUIDs.sorted(),
                workerState: view.workerState,
                idleBehavior: view.idleBehavior,
                firstSeenAt: view.firstSeenAt
            )
        }
    }

    func queue() async -> [ManagedContainer] {
        let entries = await self.queue.entries().entries
        let scheduled = await self.scheduler.scheduledQueue()
        var listed = Set<ContainerUUID>()
        var result: [ManagedContainer] = []
        for schedule in scheduled {
            guard let entry = entries[schedule.uuid] else { continue }
            listed.insert(schedule.uuid)
            result.append(Self.managed(entry, status: schedule.status.map { "\($0)" } ?? ""))
        }
        // Entries that arrived after the last pass, in no particular order.
        for (uuid, entry) in entries where !listed.contains(uuid) {
            result.append(Self.managed(entry, status: ""))
        }
        return result
    }

    private static func managed(_ entry: QueueEntry, status: String) -> ManagedContainer {
        ManagedContainer(
            container: entry.container,
            instanceResources: entry.resources,
            instanceTypes: entry.instanceTypes,
            firstSeenAt: entry.firstSeenAt,
            schedulingStatus: status
        )
    }

    func setIdleBehavior(_ id: InstanceID, _ behavior: IdleBehavior) async throws(ManagementError) {
        do throws(WorkerPoolError) {
            try await self.pool.setIdleBehavior(id, behavior)
        } catch {
            throw Self.managementError(error)
        }
    }

    func killInstance(_ id: InstanceID, reason: String) async throws(ManagementError) {
        do throws(WorkerPoolError) {
            try await self.pool.killInstance(id, reason: reason)
        } catch {
            throw Self.managementError(error)
        }
    }

    func killContainer(_ uuid: ContainerUUID, reason: String) async throws(ManagementError) {
        guard await self.pool.killContainer(uuid, reason: reason) else {
            throw ManagementError(.notFound, "container \(uuid) is not running on any instance")
        }
    }

    func checkHealth() async throws(ManagementError) {
        do throws(WorkerPoolError) {
            try await self.pool.checkHealth()
        } catch {
            throw ManagementError(.unavailable, error.message)
        }
    }

    private static func managementError(_ error: WorkerPoolError) -> ManagementError {
        error.code == .instanceNotFound
            ? ManagementError(.notFound, error.message) : ManagementError(.internalError, error.message)
    }
}
