public import DispatchModel

/// Which spot containers have fallen back to on-demand instance types, and why (`DispatchCloud.SpotFallbackAfter`
/// and `DispatchCloud.PreemptionBudget`).
///
/// A container that must run on spot (its entry has ``DispatchModel/QueueEntry/onDemandTypes``) is placed on its
/// spot types, as in Arvados, until either
/// - every one of its eligible spot types has been held for capacity for ``Configuration/hold``, counted from the
///   first pass that found them all held while it waited with no runner; passes between two capacity errors (the
///   hold lifted, a new create in flight) do not restart the count, only the container starting does; or
/// - it has been preempted ``Configuration/budget`` times (the pool's count, which survives a restart); or
/// - (with either knob on) every eligible spot type has a current price (``PoolSnapshot/currentPrices``), and the
///   cheapest of them is not below the cheapest on-demand type's price: spot counts as cheaper only at its current
///   price.
///
/// From then on the planner places it on its on-demand types for as long as it stays in the queue. The decision
/// is a value the planner keeps between passes; it is not kept across a restart (a capacity wait starts again,
/// the preemption count does not).
public struct SpotFallback: Sendable {
    /// The two knobs; both off (zero) by default, which keeps Arvados's behaviour.
    public struct Configuration: Hashable, Sendable {
        /// How long every eligible spot type must stay held for capacity; `.zero` for never.
        public var hold: Duration
        /// After how many preemptions a container falls back; 0 for never.
        public var budget: Int

        public init(hold: Duration = .zero, budget: Int = 0) {
            self.hold = hold
            self.budget = budget
        }

        /// Whether either knob is on.
        public var isEnabled: Bool { self.hold > .zero || self.budget > 0 }
    }

    /// Why and when one container fell back.
    public struct Decision: Hashable, Sendable, CustomStringConvertible {
        public enum Reason: Hashable, Sendable {
            /// Every eligible spot type was held for capacity from `since`, for longer than `hold`.
            case capacity(since: Timestamp, hold: Duration)
            /// It had been preempted this many times, the budget.
            case preemptions(Int)
            /// The cheapest eligible spot type's current price was not below the cheapest on-demand type's price.
            case price(spot: Double, onDemand: Double)
        }

        /// When the planner decided.
        public var at: Timestamp
        public var reason: Reason

        public init(at: Timestamp, reason: Reason) {
            self.at = at
            self.reason = reason
        }

        /// Why, in words: "every eligible spot type held for capacity for 2m0s" or "preempted 2 times".
        public var why: String {
            switch self.reason {
            case .capacity(_, let hold):
                "every eligible spot type held for capacity for \(GoDuration.format(hold))"
            case .preemptions(let count):
                "preempted \(count) time\(count == 1 ? "" : "s") (DispatchCloud.PreemptionBudget)"
            case .price(let spot, let onDemand):
                "spot costs \(SchedulingStatus.dollars(spot))/h now, on-demand \(SchedulingStatus.dollars(onDemand))/h"
            }
        }

        /// "on on-demand since 2026-12-03T18:00:00Z: every eligible spot type held for capacity for 2m0s".
        public var description: String { "on on-demand since \(self.at): \(self.why)" }

        /// The container's `runtime_status` keys that say so (Arvados's `warning` and `warningDetail`).
        public var runtimeStatus: [String: JSONValue] {
            [
                "warning": .string("Fell back from spot to on-demand instances"),
                "warningDetail": .string("At \(self.at): \(self.why)."),
            ]
        }
    }

    public var configuration: Configuration
    /// Containers waiting with every eligible spot type held for capacity, since when.
    private var heldSince: [ContainerUUID: Timestamp] = [:]
    /// The containers that fell back.
    public private(set) var decisions: [ContainerUUID: Decision] = [:]

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Updates the decisions from a pass's snapshots; returns the containers that fell back in this pass.
    ///
    /// - Parameter hasRunner: whether the entry at an index has a runner in the pool (it has started).
    @discardableResult
    mutating func update(
        queue: QueueSnapshot,
        pool: PoolSnapshot,
        hasRunner: (Int) -> Bool,
        now: Timestamp
    ) -> [ContainerUUID] {
        guard self.configuration.isEnabled else { return [] }
        var present: Set<ContainerUUID>?
        if !self.heldSince.isEmpty || !self.decisions.isEmpty {
            present = Set(queue.entries.map(\.uuid))
        }
        if let present {
            self.heldSince = self.heldSince.filter { present.contains($0.key) }
            self.decisions = self.decisions.filter { present.contains($0.key) }
        }
        var fellBack: [ContainerUUID] = []
        for i in queue.entries.indices where !queue.entries[i].onDemandTypes.isEmpty {
            let entry = queue.entries[i]
            let uuid = entry.uuid
            guard self.decisions[uuid] == nil else { continue }
            let state = entry.container.state
            guard state == .queued || state == .locked, entry.container.priority > 0, !hasRunner(i) else {
                self.heldSince[uuid] = nil
                continue
            }
            let budget = self.configuration.budget
            if budget > 0, let count = pool.preemptions[uuid], count >= budget {
                self.decisions[uuid] = Decision(at: now, reason: .preemptions(count))
                self.heldSince[uuid] = nil
                fellBack.append(uuid)
                continue
            }
            if let prices = Self.spotNotCheaper(entry, pool) {
                self.decisions[uuid] = Decision(at: now, reason: .price(spot: prices.spot, onDemand: prices.onDemand))
                self.heldSince[uuid] = nil
                fellBack.append(uuid)
                continue
            }
            let hold = self.configuration.hold
            guard hold > .zero else { continue }
            if entry.instanceTypes.allSatisfy({ pool.isAtCapacity($0) }) {
                let since = self.heldSince[uuid] ?? now
                self.heldSince[uuid] = since
                if now.duration(since: since) >= hold {
                    self.decisions[uuid] = Decision(at: now, reason: .capacity(since: since, hold: hold))
                    self.heldSince[uuid] = nil
                    fellBack.append(uuid)
                }
            }
        }
        return fellBack
    }

    /// The cheapest spot and on-demand prices when every eligible spot type has a current price and none is
    /// cheaper than the cheapest on-demand type; `nil` otherwise.
    private static func spotNotCheaper(_ entry: QueueEntry, _ pool: PoolSnapshot) -> (spot: Double, onDemand: Double)? {
        guard !pool.currentPrices.isEmpty else { return nil }
        var spot = Double.infinity
        for type in entry.instanceTypes {
            guard let price = pool.currentPrices[type.name] else { return nil }
            spot = min(spot, price)
        }
        let onDemand = entry.onDemandTypes.map { pool.hourlyPrice(of: $0) }.min() ?? .infinity
        return spot.isFinite && onDemand.isFinite && spot >= onDemand ? (spot, onDemand) : nil
    }
}
