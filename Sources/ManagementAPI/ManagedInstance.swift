public import DispatchModel

/// One worker (or pending create) in `GET /arvados/v1/dispatch/instances`, with Arvados's field names
/// (`worker.InstanceView`, reference §5.2).
///
/// ``firstSeenAt`` is this implementation's addition (`first_seen_at`, omitted when unknown); Arvados clients
/// ignore it.
public struct ManagedInstance: Hashable, Sendable, Codable {
    /// The instance ID; `nil` for a create still in flight (`""` in JSON).
    public var instance: InstanceID?
    /// The address, or empty while unknown.
    public var address: String
    /// The hourly price of the instance type.
    public var price: Double
    /// The configured type name (`arvados_instance_type`).
    public var arvadosInstanceType: InstanceTypeName
    /// The provider's type name (`provider_instance_type`).
    public var providerInstanceType: String
    /// The container the worker ran most recently; `nil` for none (`""` in JSON).
    public var lastContainerUUID: ContainerUUID?
    /// When the worker was last busy.
    public var lastBusy: Timestamp
    /// Every container starting or running on the worker, sorted.
    public var runningContainerUUIDs: [ContainerUUID]
    /// What the worker is doing.
    public var workerState: WorkerState
    /// What an operator asked it to do when idle.
    public var idleBehavior: IdleBehavior
    /// When the dispatcher created the instance or first saw it in the cloud list, if known.
    public var firstSeenAt: Timestamp?

    public init(
        instance: InstanceID?,
        address: String = "",
        price: Double,
        arvadosInstanceType: InstanceTypeName,
        providerInstanceType: String,
        lastContainerUUID: ContainerUUID? = nil,
        lastBusy: Timestamp,
        runningContainerUUIDs: [ContainerUUID] = [],
        workerState: WorkerState,
        idleBehavior: IdleBehavior = .run,
        firstSeenAt: Timestamp? = nil
    ) {
        self.instance = instance
        self.address = address
        self.price = price
        self.arvadosInstanceType = arvadosInstanceType
        self.providerInstanceType = providerInstanceType
        self.lastContainerUUID = lastContainerUUID
        self.lastBusy = lastBusy
        self.runningContainerUUIDs = runningContainerUUIDs
        self.workerState = workerState
        self.idleBehavior = idleBehavior
        self.firstSeenAt = firstSeenAt
    }

    /// The category the instance counts in for `arvados_dispatchcloud_instances_total`: `inuse` with containers,
    /// else `hold`, `booting`, `unknown`, or `idle` (which includes shutting-down instances, as in Arvados).
    public var category: String {
        if !self.runningContainerUUIDs.isEmpty { return "inuse" }
        if self.idleBehavior == .hold { return "hold" }
        switch self.workerState {
        case .booting: return "booting"
        case .unknown: return "unknown"
        default: return "idle"
        }
    }

    /// Arvados's listing order: by instance ID (pending creates first), then type.
    static func listingOrder(_ lhs: ManagedInstance, _ rhs: ManagedInstance) -> Bool {
        let left = lhs.instance?.rawValue ?? ""
        let right = rhs.instance?.rawValue ?? ""
        if left != right { return left < right }
        return lhs.arvadosInstanceType < rhs.arvadosInstanceType
    }

    enum CodingKeys: String, CodingKey {
        case instance
        case address
        case price
        case arvadosInstanceType = "arvados_instance_type"
        case providerInstanceType = "provider_instance_type"
        case lastContainerUUID = "last_container_uuid"
        case lastBusy = "last_busy"
        case runningContainerUUIDs = "running_container_uuids"
        case workerState = "worker_state"
        case idleBehavior = "idle_behavior"
        case firstSeenAt = "first_seen_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.instance?.rawValue ?? "", forKey: .instance)
        try container.encode(self.address, forKey: .address)
        try container.encode(self.price, forKey: .price)
        try container.encode(self.arvadosInstanceType, forKey: .arvadosInstanceType)
        try container.encode(self.providerInstanceType, forKey: .providerInstanceType)
        try container.encode(self.lastContainerUUID?.rawValue ?? "", forKey: .lastContainerUUID)
        try container.encode(self.lastBusy, forKey: .lastBusy)
        try container.encode(self.runningContainerUUIDs, forKey: .runningContainerUUIDs)
        try container.encode(self.workerState, forKey: .workerState)
        try container.encode(self.idleBehavior, forKey: .idleBehavior)
        try container.encodeIfPresent(self.firstSeenAt, forKey: .firstSeenAt)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let instance = try container.decodeIfPresent(String.self, forKey: .instance) ?? ""
        let lastUUID = try container.decodeIfPresent(String.self, forKey: .lastContainerUUID) ?? ""
        self.init(
            instance: instance.isEmpty ? nil : InstanceID(rawValue: instance),
            address: try container.decodeIfPresent(String.self, forKey: .address) ?? "",
            price: try container.decodeIfPresent(Double.self, forKey: .price) ?? 0,
            arvadosInstanceType: try container.decode(InstanceTypeName.self, forKey: .arvadosInstanceType),
            providerInstanceType: try container.decodeIfPresent(String.self, forKey: .providerInstanceType) ?? "",
            lastContainerUUID: lastUUID.isEmpty ? nil : ContainerUUID(rawValue: lastUUID),
            lastBusy: try container.decode(Timestamp.self, forKey: .lastBusy),
            runningContainerUUIDs: try container.decodeIfPresent([ContainerUUID].self, forKey: .runningContainerUUIDs)
                ?? [],
            workerState: try container.decode(WorkerState.self, forKey: .workerState),
            idleBehavior: try container.decode(IdleBehavior.self, forKey: .idleBehavior),
            firstSeenAt: try container.decodeIfPresent(Timestamp.self, forKey: .firstSeenAt)
        )
    }
}
