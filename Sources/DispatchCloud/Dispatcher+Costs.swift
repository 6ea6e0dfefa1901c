import CloudDriver
import ContainerQueue
import DispatchModel
import WorkerPool

extension Dispatcher {
    /// The instances that exist now (not creates in flight), each at its hourly price (spot at its current one),
    /// with the containers running on them and their owners, for ``CostLedger``.
    static func costSample<Instances: InstanceSet>(
        pool: WorkerPool<Instances, ContinuousClock>,
        queue: ContainerQueue<ContinuousClock>
    ) async -> [CostLedger.Instance] {
        let views = await pool.instances()
        let prices = await pool.currentPrices()
        let entries = await queue.entries().entries
        return views.compactMap { view in
            guard view.instance != nil else { return nil }
            let type = view.instanceType
            return CostLedger.Instance(
                instanceType: type.name.rawValue,
                hourlyPrice: prices[type.name] ?? type.price,
                containers: view.runningContainerUUIDs.map { uuid in
                    (uuid.rawValue, entries[uuid]?.container.ownerUUID ?? "")
                }
            )
        }
    }
}
