import DispatchModel
import Metrics

extension ContainerQueue {
    // MARK: - Metrics

    /// `arvados_dispatchcloud_queue_entries{state,instance_type}`, zeroing combinations that emptied.
    func reportMetrics() {
        let counts = self.current.counts
        for (key, count) in counts where self.reportedEntryCounts[key] != count {
            self.recordEntryCount(key, count)
        }
        // Combinations that emptied go to zero (and stay reported).
        for key in self.reportedEntryCounts.keys where counts[key] == nil && self.reportedEntryCounts[key] != 0 {
            self.recordEntryCount(key, 0)
        }
    }

    private func recordEntryCount(_ key: Entries.CountKey, _ count: Int) {
        Gauge(
            label: "arvados_dispatchcloud_queue_entries",
            dimensions: [("state", key.state.rawValue), ("instance_type", key.instanceType)],
            factory: self.metricsFactory
        )
        .record(count)
        self.reportedEntryCounts[key] = count
    }
}
