import CloudDriver
import DispatchModel

/// Spot price histories by instance type and availability zone, with when each was last refreshed.
struct SpotPriceBook<Instant: InstantProtocol & Sendable>: Sendable {
    struct Key: Hashable, Sendable {
        var providerType: String
        var zone: String
    }

    private var histories: [Key: [InstancePrice]] = [:]
    private var updated: [Key: Instant] = [:]

    /// The history of `providerType` in `zone`, newest first.
    func history(providerType: String, zone: String) -> [InstancePrice] {
        self.histories[Key(providerType: providerType, zone: zone)] ?? []
    }

    /// Whether any of `keys` has not been refreshed since `staleBefore`.
    func needsUpdate(_ keys: some Sequence<Key>, staleBefore: Instant) -> Bool {
        keys.contains { key in self.updated[key].map { $0 < staleBefore } ?? true }
    }

    /// Adds `prices` (from one refresh at `now`) to the histories.
    mutating func add(_ prices: [(Key, InstancePrice)], at now: Instant) {
        for (key, price) in prices {
            self.histories[key, default: []].append(price)
            self.updated[key] = now
        }
    }

    /// Drops the histories not refreshed since `expiredBefore` and sorts the rest newest first without
    /// duplicates.
    mutating func normalize(expiredBefore: Instant) {
        for (key, last) in self.updated where last < expiredBefore {
            self.updated[key] = nil
            self.histories[key] = nil
        }
        for (key, prices) in self.histories {
            var seen = Set<InstancePrice>()
            self.histories[key] = prices.sorted { $0.startTime > $1.startTime }.filter { seen.insert($0).inserted }
        }
    }
}
