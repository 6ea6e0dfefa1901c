import CloudDriver
import CoreMetrics
import DispatchModel
import Logging

extension WorkerPool {
    /// Recomputes the gauges from the workers (after every change, as Arvados does on each notification).
    func refreshMetrics() {
        self.gaugeRefreshes += 1
        let now = self.now
        self.metrics.quarantined.record(self.quarantine.quarantined(at: now).count)
        var instances: [InstanceGaugeKey: Int] = [:]
        for category in PoolMetrics.categories {
            for name in self.configuration.instanceTypes.keys {
                instances[InstanceGaugeKey(category: category, type: name)] = 0
            }
        }
        var price: [String: Double] = [:]
        var vcpus: [String: Int] = [:]
        var memory: [String: Int64] = [:]
        var containers = 0
        var probeAges: [Duration] = []
        for worker in self.workers.values {
            let machine = worker.machine
            let count = machine.runners.activeCount
            let category = PoolMetrics.category(
                state: machine.state,
                behavior: machine.idleBehavior,
                containers: count
            )
            instances[InstanceGaugeKey(category: category, type: worker.type.name), default: 0] += 1
            price[category, default: 0] += worker.type.price
            vcpus[category, default: 0] += worker.type.vcpus
            memory[category, default: 0] += worker.type.ram.bytes
            containers += count
            if machine.state != .shutdown { probeAges.append(machine.probed.duration(to: now)) }
        }
        // Keys seen before but gone now go back to zero.
        for key in self.instanceGaugeKeys where instances[key] == nil { instances[key] = 0 }
        self.instanceGaugeKeys.formUnion(instances.keys)
        for (key, value) in instances {
            self.metrics.instances(category: key.category, type: key.type).record(value)
        }
        for category in PoolMetrics.categories {
            self.metrics.price[category]?.record(price[category] ?? 0)
            self.metrics.vcpus[category]?.record(vcpus[category] ?? 0)
            self.metrics.memory[category]?.record(memory[category] ?? 0)
        }
        self.metrics.containersRunning.record(containers)
        probeAges.sort()
        self.metrics.probeAgeMax.record(probeAges.last?.inSeconds ?? 0)
        self.metrics.probeAgeMedian.record(probeAges.isEmpty ? 0 : probeAges[probeAges.count / 2].inSeconds)
    }
}
