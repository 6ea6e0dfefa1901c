public import DispatchModel

/// What one planning pass decided: the actions to apply, the queue's scheduling statuses, and the metrics.
///
/// Actions are listed in the order the pass decided them; applying them in that order reproduces
/// Arvados's call order (locks, starts and creates by queue position, then unlocks, then shutdowns,
/// then the reconciliation).
public struct Plan: Sendable {
    /// One thing for the queue or the pool to do.
    public enum Action: Hashable, Sendable {
        /// Lock a Queued container for this dispatcher. Planned only once an instance exists for it (idle,
        /// running with room, or booting: a container that needs a new one gets a ``create(_:)`` first), and
        /// only for a container with no runner in the pool's snapshot; one with a runner left from an earlier
        /// attempt gets the status
        /// ``SchedulingStatus/waitingForPreviousAttempt`` and the reconciliation kills that runner.
        case lock(ContainerUUID)
        /// Unlock (requeue) a Locked container.
        case unlock(ContainerUUID, reason: String)
        /// Cancel a container.
        case cancel(ContainerUUID, reason: String)
        /// Return a Running container whose instance vanished under it (preempted this many times, within
        /// `DispatchCloud.PreemptionBudget`) to the queue, instead of cancelling it.
        case requeue(ContainerUUID, preemptions: Int)
        /// Ask the pool to create an instance of the type. (Boxed: the type is large and creates are few.)
        indirect case create(InstanceType)
        /// Start a Locked container on a ready instance. Planned only for a container with no runner in the
        /// pool's snapshot, and only once the queue has been read and the previous process's workers probed
        /// (or `StaleLockTimeout` passed): see ``StaleLockFixer``. (Arvados asks the pool to kill a runner
        /// "about to lock" or "about to start" instead; the snapshot, taken in one pool actor turn, already
        /// shows every runner the pool knows.)
        case start(ContainerUUID, on: InstanceID)
        /// Shut down an instance that has nothing to run (only booting or idle instances not on hold).
        case shutdown(InstanceID)
        /// Kill the container's runner and make the pool forget it.
        case kill(ContainerUUID, reason: String)
        /// The container is Complete and its runner alive: it finalized the container and exits by itself, so
        /// the pool stops counting it and sends SIGTERM only if a probe still finds it `TimeoutSignal` later.
        /// (Arvados kills it at once: a program start and an SSH session per container.)
        case finished(ContainerUUID)
        /// Drop the container from the queue cache.
        case forget(ContainerUUID)
    }

    /// The actions, in decision order.
    public var actions: [Action]
    /// Every queue entry in scheduling order, with its status (`nil` for entries that have none, such as
    /// Running containers). Statuses are worded on access, so a pass over 100,000 entries formats none.
    public var queue: ScheduledQueue
    /// The scheduler's gauges after this pass.
    public var metrics: SchedulerMetrics
    /// The creates this pass wanted beyond the pool's create budget (`MaxConcurrentInstanceCreateOps` in
    /// flight), in queue order: the pool starts them as its creates finish, until the next pass that plans afresh
    /// replaces the list (``SchedulingPool/replaceCreateBacklog(_:)``). They count against `MaxInstances`, the
    /// known quota level and the spend caps as creates do.
    public var createBacklog: [InstanceType] = []

    /// The containers of the plan's starts, so the loop hands each to the pool without a look-up in the queue.
    var startContainers: [ContainerUUID: Container] = [:]

    /// When the container behind ``SchedulerMetrics/containersLongestWaitTimeSeconds`` was created, so a plan
    /// reused at a later time reports its wait then.
    var longestWaitSince: Timestamp?

    public init(actions: [Action] = [], queue: ScheduledQueue = .init(), metrics: SchedulerMetrics = .init()) {
        self.actions = actions
        self.queue = queue
        self.metrics = metrics
    }
}

/// The queue in scheduling order, with each entry's status.
public struct ScheduledQueue: RandomAccessCollection, Sendable {
    /// A status in compact form; its text is built on access.
    struct Code: Sendable {
        enum Kind: UInt8, Sendable {
            case none
            case preparing
            case priorityZero
            case supervisorLimit
            case previousAttempt
            case newInstance
            case instanceTypes
            case cloudLimits
            case maxInstances
            case clusterCapacity
            case hourlySpendCap
            case dailySpendCap
        }

        var kind: Kind = .none
        var position: Int32 = 0
        /// For ``Kind/newInstance``: the index into ``ScheduledQueue/typeNames``; for ``Kind/maxInstances``: the
        /// limit.
        var type: Int32 = 0
    }

    /// The entries in snapshot order (``entryIndex(at:)`` indexes them).
    let entries: QueueEntryList
    private let order: [Int32]
    /// Statuses by position.
    private let codes: [Code]
    private let typeNames: [InstanceTypeName]
    /// `MaxHourlySpend`, for ``Code/Kind/hourlySpendCap``.
    private let hourlySpendCap: Double
    /// `MaxSpendPerDay`, for ``Code/Kind/dailySpendCap``.
    private let dailySpendCap: Double

    /// An empty queue.
    public init() {
        self.init(entries: QueueEntryList(), order: [], codes: [], typeNames: [])
    }

    init(
        entries: QueueEntryList,
        order: [Int32],
        codes: [Code],
        typeNames: [InstanceTypeName],
        hourlySpendCap: Double = 0,
        dailySpendCap: Double = 0
    ) {
        self.entries = entries
        self.order = order
        self.codes = codes
        self.typeNames = typeNames
        self.hourlySpendCap = hourlySpendCap
        self.dailySpendCap = dailySpendCap
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { self.order.count }

    public subscript(position: Int) -> ContainerSchedule {
        ContainerSchedule(
            uuid: self.entries[Int(self.order[position])].uuid,
            status: self.status(at: position)
        )
    }

    /// The compact status at a position (no text built), for the journal's wait records.
    func kind(at position: Int) -> Code.Kind { self.codes[position].kind }

    /// The index in ``entries`` of the entry at a position.
    func entryIndex(at position: Int) -> Int { Int(self.order[position]) }

    /// The container at a position.
    func uuid(at position: Int) -> ContainerUUID { self.entries[Int(self.order[position])].uuid }

    /// The queue entry at a position.
    func entry(at position: Int) -> QueueEntry { self.entries[Int(self.order[position])] }

    private func status(at index: Int) -> SchedulingStatus? {
        let entry = Int(self.order[index])
        let code = self.codes[index]
        let position = Int(code.position)
        switch code.kind {
        case .none: return nil
        case .preparing: return .preparingRuntimeEnvironment
        case .priorityZero: return .priorityZero(self.entries[entry].container.state)
        case .supervisorLimit: return .supervisorLimitReached(position: position)
        case .previousAttempt: return .waitingForPreviousAttempt
        case .newInstance: return .waitingForNewInstance(self.typeNames[Int(code.type)])
        case .instanceTypes:
            return .waitingForInstanceType(position: position, eligible: self.entries[entry].instanceTypes.map(\.name))
        case .cloudLimits: return .waitingForCloudResources(position: position)
        case .maxInstances: return .waitingForMaxInstances(position: position, limit: Int(code.type))
        case .clusterCapacity: return .waitingForClusterCapacity(position: position)
        case .hourlySpendCap: return .waitingForHourlySpendCap(position: position, cap: self.hourlySpendCap)
        case .dailySpendCap: return .waitingForDailySpendCap(position: position, cap: self.dailySpendCap)
        }
    }
}

/// A queue entry's place in the scheduling order and its status.
public struct ContainerSchedule: Hashable, Sendable {
    public var uuid: ContainerUUID
    public var status: SchedulingStatus?

    public init(uuid: ContainerUUID, status: SchedulingStatus?) {
        self.uuid = uuid
        self.status = status
    }
}

/// Why a container is or is not running yet, worded exactly as Arvados's `scheduling_status`.
public enum SchedulingStatus: Hashable, Sendable, CustomStringConvertible {
    /// Allocated to an instance and starting.
    case preparingRuntimeEnvironment
    /// Not scheduled because its priority is 0.
    case priorityZero(ContainerState)
    /// A supervisor beyond the `SupervisorFraction` limit, at this position among such supervisors.
    case supervisorLimitReached(position: Int)
    /// A runner from an earlier attempt has not exited yet.
    case waitingForPreviousAttempt
    /// Allocated to an instance of this type that is booting or being created.
    case waitingForNewInstance(InstanceTypeName)
    /// Every eligible type is at cloud capacity.
    case waitingForInstanceType(position: Int, eligible: [InstanceTypeName])
    /// The cloud account is at its instance quota (the provider's limit).
    case waitingForCloudResources(position: Int)
    /// The configured `CloudVMs.MaxInstances` is reached (the dispatcher's own limit, not the provider's).
    case waitingForMaxInstances(position: Int, limit: Int)
    /// The dispatcher's own limits leave no room.
    case waitingForClusterCapacity(position: Int)
    /// A new instance would take the summed hourly price of all instances above `DispatchCloud.MaxHourlySpend`
    /// (not an Arvados status).
    case waitingForHourlySpendCap(position: Int, cap: Double)
    /// The money left of `DispatchCloud.MaxSpendPerDay` in the rolling 24 hours cannot pay for the instances and a
    /// new one for the next hour (not an Arvados status).
    case waitingForDailySpendCap(position: Int, cap: Double)

    public var description: String {
        switch self {
        case .preparingRuntimeEnvironment:
            "Container is allocated to an instance and preparing to run."
        case .priorityZero(let state):
            "This container will not be scheduled to run because its priority is 0 and state is \(state.rawValue)."
        case .supervisorLimitReached(let position):
            "Waiting in workflow queue at position \(position).  "
                + "Cluster is at capacity and cannot start any new workflows right now."
        case .waitingForPreviousAttempt:
            "Waiting for previous container attempt to exit."
        case .waitingForNewInstance(let type):
            "Waiting for a \(type.rawValue) instance to boot and be ready to accept work."
        case .waitingForInstanceType(let position, let eligible):
            "Waiting in queue at position \(position).  Cluster is at capacity for all eligible instance types ("
                + eligible.map(\.rawValue).joined(separator: ", ") + ") and cannot start a new instance right now."
        case .waitingForCloudResources(let position):
            "Waiting in queue at position \(position).  "
                + "Cluster is at cloud account limits and cannot start any new instances right now."
        case .waitingForMaxInstances(let position, let limit):
            "Waiting in queue at position \(position).  "
                + "Cluster has reached its configured MaxInstances (\(limit)) and cannot start any new instances right now."
        case .waitingForClusterCapacity(let position):
            "Waiting in queue at position \(position).  "
                + "Cluster is at capacity and cannot start any new instances right now."
        case .waitingForHourlySpendCap(let position, let cap):
            "waiting: hourly spend cap of \(Self.dollars(cap)) reached (position \(position) in queue)"
        case .waitingForDailySpendCap(let position, let cap):
            "waiting: daily spend cap of \(Self.dollars(cap)) reached (position \(position) in queue)"
        }
    }

    /// An amount of money as `$1.50`: two decimals, or as many as it needs below a cent.
    public static func dollars(_ amount: Double) -> String {
        guard amount.isFinite else { return "$\(amount)" }
        let cents = (amount * 100).rounded()
        if abs(cents - amount * 100) < 1e-6, abs(cents) < 1e15 {
            let whole = Int64(cents)
            let sign = whole < 0 ? "-" : ""
            let magnitude = whole.magnitude
            let fraction = magnitude % 100
            return "\(sign)$\(magnitude / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
        }
        return "$\(amount)"
    }
}

/// The scheduler's gauges (`arvados_dispatchcloud_*`, reference §5.4) as plain values.
public struct SchedulerMetrics: Hashable, Sendable {
    /// `containers_allocated_not_started`: allocated to a booting or pending instance.
    public var containersAllocatedNotStarted: Int
    /// `containers_not_allocated_over_quota`: left out because of quota or the supervisor limit.
    public var containersNotAllocatedOverQuota: Int
    /// `containers_longest_wait_time_seconds`: age of the oldest Queued or Locked container with a
    /// positive priority that is not on an instance yet; 0 if none.
    public var containersLongestWaitTimeSeconds: Double
    /// `last_503_time`: Unix time of the last API 503 the planner has seen; 0 if none.
    public var last503Time: Double
    /// `max_concurrent_containers`: the dynamic container limit; 0 for none.
    public var maxConcurrentContainers: Int
    /// `at_quota`: whether the provider's quota holds creates (a quota error that still holds). Arvados also
    /// counts `MaxInstances` here; this dispatcher reports that one apart, in ``atMaxInstances``.
    public var atQuota: Bool
    /// `at_max_instances`: whether the configured `MaxInstances` is reached after this pass's creates.
    public var atMaxInstances: Bool
    /// `hourly_spend`: the summed hourly price of every instance and in-flight create after this pass's
    /// creates (spot at its current price).
    public var hourlySpend: Double
    /// `max_hourly_spend`: `DispatchCloud.MaxHourlySpend`; 0 for no cap.
    public var maxHourlySpend: Double
    /// `containers_waiting_on_spend_cap`: containers that would get a new instance but for a spend cap.
    public var containersWaitingOnSpendCap: Int
    /// `spend_in_window`: money spent in the rolling 24 hours (0 when not accounted).
    public var spendInWindow: Double
    /// `max_spend_per_day`: `DispatchCloud.MaxSpendPerDay`; 0 for no cap.
    public var maxSpendPerDay: Double

    public init(
        containersAllocatedNotStarted: Int = 0,
        containersNotAllocatedOverQuota: Int = 0,
        containersLongestWaitTimeSeconds: Double = 0,
        last503Time: Double = 0,
        maxConcurrentContainers: Int = 0,
        atQuota: Bool = false,
        atMaxInstances: Bool = false,
        hourlySpend: Double = 0,
        maxHourlySpend: Double = 0,
        containersWaitingOnSpendCap: Int = 0,
        spendInWindow: Double = 0,
        maxSpendPerDay: Double = 0
    ) {
        self.containersAllocatedNotStarted = containersAllocatedNotStarted
        self.containersNotAllocatedOverQuota = containersNotAllocatedOverQuota
        self.containersLongestWaitTimeSeconds = containersLongestWaitTimeSeconds
        self.last503Time = last503Time
        self.maxConcurrentContainers = maxConcurrentContainers
        self.atQuota = atQuota
        self.atMaxInstances = atMaxInstances
        self.hourlySpend = hourlySpend
        self.maxHourlySpend = maxHourlySpend
        self.containersWaitingOnSpendCap = containersWaitingOnSpendCap
        self.spendInWindow = spendInWindow
        self.maxSpendPerDay = maxSpendPerDay
    }

    /// The Prometheus names (namespace `arvados`, subsystem `dispatchcloud`) of these gauges, in field order.
    public static let names = [
        "arvados_dispatchcloud_containers_allocated_not_started",
        "arvados_dispatchcloud_containers_not_allocated_over_quota",
        "arvados_dispatchcloud_containers_longest_wait_time_seconds",
        "arvados_dispatchcloud_last_503_time",
        "arvados_dispatchcloud_max_concurrent_containers",
        "arvados_dispatchcloud_at_quota",
        "arvados_dispatchcloud_at_max_instances",
        "arvados_dispatchcloud_hourly_spend",
        "arvados_dispatchcloud_max_hourly_spend",
        "arvados_dispatchcloud_containers_waiting_on_spend_cap",
        "arvados_dispatchcloud_spend_in_window",
        "arvados_dispatchcloud_max_spend_per_day",
    ]
}
