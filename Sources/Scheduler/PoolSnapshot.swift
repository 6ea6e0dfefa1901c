public import DispatchModel

/// The worker pool as one planning pass sees it.
///
/// The pool fills this in from its own state; the planner never calls the pool.
public struct PoolSnapshot: Sendable {
    /// Every worker, plus one entry with a `nil` ID per create call still in flight.
    public var instances: [InstanceSnapshot]
    /// Every container the pool knows a runner for: starting, running, or exited and not yet forgotten
    /// (Arvados's `pool.Running()`).
    public var runners: [ContainerUUID: Runner]
    /// Whether the cloud reported a quota error that still holds (Arvados's `atQuotaUntil` and
    /// `atQuotaUntilFewerInstances`).
    public var atQuota: Bool
    /// Whether a quota error from the provider still holds creates (``atQuota`` without `MaxInstances`); `nil`
    /// when the pool does not say, and then any quota short of `MaxInstances` counts as the provider's.
    public var quotaHeld: Bool?
    /// How many quota errors the pool's creates have met so far. The planner notices a new one even when
    /// the hold it caused has already lifted (the pool's quota state can change between two passes).
    public var quotaErrors: Int
    /// `CloudVMs.MaxInstances`: the pool is at quota once it holds this many workers and creates; 0 for no limit.
    public var maxInstances: Int
    /// How many more create calls the pool would accept right now, or `nil` for no limit.
    ///
    /// Zero while creates are throttled (rate limit, `MaxConcurrentInstanceCreateOps`); the planner
    /// plans no more creates than this, so it never counts on an instance the pool would refuse.
    public var createBudget: Int?
    /// The scopes the cloud reported out of capacity, still held. The pool expands a hold on a quota group
    /// (instance family) to the configured types of that group, so the planner needs no family mapping.
    public var capacityHolds: Set<CapacityScope>
    /// When the Arvados API last answered HTTP 503, or `nil` if it never did.
    public var last503At: Timestamp?
    /// The current hourly price of the types whose price moves (spot), where the pool knows it; every other
    /// type costs its configured `Price`. See ``hourlyPrice(of:)``.
    public var currentPrices: [InstanceTypeName: Double]
    /// The money spent in the rolling 24 hours, for `MaxSpendPerDay`; `nil` when not accounted.
    public var dailySpend: DailySpend?
    /// How many times each container's instance vanished under it (the pool's preemption count), for
    /// `PreemptionBudget`; empty when the budget is off.
    public var preemptions: [ContainerUUID: Int] = [:]
    /// Identifies ``instances`` and ``runners``: two snapshots from one pool with the same non-nil version hold
    /// the same instances (in the same order) and runners.
    public var version: UInt64?
    /// Identifies the containers ``instances`` and ``runners`` name and where: two snapshots from one pool with the
    /// same non-nil layout version have the same runner table keys, in the same order, and the same containers on
    /// the same instances (their states, and the runners' exit times and flags, may differ).
    public var layoutVersion: UInt64?

    public init(
        instances: [InstanceSnapshot] = [],
        runners: [ContainerUUID: Runner] = [:],
        atQuota: Bool = false,
        quotaHeld: Bool? = nil,
        quotaErrors: Int = 0,
        maxInstances: Int = 0,
        createBudget: Int? = nil,
        capacityHolds: Set<CapacityScope> = [],
        last503At: Timestamp? = nil,
        currentPrices: [InstanceTypeName: Double] = [:],
        dailySpend: DailySpend? = nil,
        version: UInt64? = nil
    ) {
        self.instances = instances
        self.runners = runners
        self.atQuota = atQuota
        self.quotaHeld = quotaHeld
        self.quotaErrors = quotaErrors
        self.maxInstances = maxInstances
        self.createBudget = createBudget
        self.capacityHolds = capacityHolds
        self.last503At = last503At
        self.currentPrices = currentPrices
        self.dailySpend = dailySpend
        self.version = version
    }

    /// What an instance of `type` costs an hour now: its current spot price when known, else its `Price`.
    public func hourlyPrice(of type: InstanceType) -> Double {
        self.hourlyPrice(named: type.name, configured: type.price)
    }

    /// ``hourlyPrice(of:)`` from the type's name and configured price alone.
    private func hourlyPrice(named name: InstanceTypeName, configured: Double) -> Double {
        self.currentPrices.isEmpty ? configured : self.currentPrices[name] ?? configured
    }

    /// The summed hourly price of every instance, whatever its state, and of every create still in flight.
    public var hourlySpend: Double {
        // By index, reading two fields: a closure over the instances copied each snapshot whole.
        var total = 0.0
        for index in self.instances.indices {
            total += self.hourlyPrice(
                named: self.instances[index].type.name,
                configured: self.instances[index].type.price
            )
        }
        return total
    }

    /// A runner process the pool knows about.
    public typealias Runner = RunnerStatus

    /// The runners that count against the container limit: all but those whose container is Complete and that
    /// are exiting by themselves (``Runner/finishing``), which hold no slot and make no more API requests.
    public var activeRunnerCount: Int {
        var count = self.runners.count
        for runner in self.runners.values where runner.finishing { count -= 1 }
        return count
    }

    /// Whether the pool would refuse to create an instance of `type` because the cloud is out of capacity.
    public func isAtCapacity(_ type: InstanceType) -> Bool {
        if self.capacityHolds.isEmpty { return false }
        if self.capacityHolds.contains(.all) { return true }
        if self.capacityHolds.contains(.instanceType(providerType: type.providerType, preemptible: type.preemptible)) {
            return true
        }
        return false
    }
}

/// What a cloud capacity error applies to (Arvados's `atCapacityUntil` keys).
public enum CapacityScope: Hashable, Sendable {
    /// Every instance type.
    case all
    /// One provider type, preemptible or not.
    case instanceType(providerType: String, preemptible: Bool)
}
