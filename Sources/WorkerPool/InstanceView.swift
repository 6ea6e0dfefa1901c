public import DispatchModel

/// One worker (or pending create) as the scheduler and the management API see it (reference §5.2).
///
/// The JSON form has Arvados's field names; ``instanceType`` and ``acceptsContainers`` are for the
/// scheduler only.
public struct InstanceView: Hashable, Sendable, Codable {
    /// The instance ID; `nil` for a create still in flight (`""` in JSON).
    public var instance: InstanceID?
    /// The address, or empty while unknown.
    public var address: String
    /// The configured type of the instance.
    public var instanceType: InstanceType
    /// The container this worker ran most recently.
    public var lastContainerUUID: ContainerUUID?
    /// When the worker was last busy (wall clock).
    public var lastBusy: Timestamp
    /// Every container starting or running on the worker, sorted.
    public var runningContainerUUIDs: [ContainerUUID]
    /// What the worker is doing.
    public var workerState: WorkerState
    /// What an operator asked it to do when idle.
    public var idleBehavior: IdleBehavior
    /// Whether the scheduler may start containers on it now (idle or running, behaviour `run`).
    public var acceptsContainers: Bool
    /// When this pool first saw the instance (or asked for it, for a create in flight), wall clock; `nil` when
    /// unknown. Kept out of the Arvados JSON form; the management API reports it as `first_seen_at`.
    public var firstSeenAt: Timestamp?

    public init(
        instance: InstanceID?,
        address: String,
        instanceType: InstanceType,
        lastContainerUUID: ContainerUUID?,
        lastBusy: Timestamp,
        runningContainerUUIDs: [ContainerUUID],
        workerState: WorkerState,
        idleBehavior: IdleBehavior,
        acceptsContainers: Bool,
        firstSeenAt: Timestamp? = nil
    ) {
        self.instance = instance
        self.address = address
        self.instanceType = instanceType
        self.lastContainerUUID = lastContainerUUID
        self.lastBusy = lastBusy
        self.runningContainerUUIDs = runningContainerUUIDs
        self.workerState = workerState
        self.idleBehavior = idleBehavior
        self.acceptsContainers = acceptsContainers
        self.firstSeenAt = firstSeenAt
    }

    /// The hourly price of the instance type.
    public var price: Double { self.instanceType.price }

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
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.instance?.rawValue ?? "", forKey: .instance)
        try container.encode(self.address, forKey: .address)
        try container.encode(self.price, forKey: .price)
        try container.encode(self.instanceType.name, forKey: .arvadosInstanceType)
        try container.encode(self.instanceType.providerType, forKey: .providerInstanceType)
        try container.encode(self.lastContainerUUID?.rawValue ?? "", forKey: .lastContainerUUID)
        try container.encode(self.lastBusy, forKey: .lastBusy)
        try container.encode(self.runningContainerUUIDs, forKey: .runningContainerUUIDs)
        try container.encode(self.workerState, forKey: .workerState)
        try container.encode(self.idleBehavior, forKey: .idleBehavior)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let instance = try container.decode(String.self, forKey: .instance)
        let name = try container.decode(InstanceTypeName.self, forKey: .arvadosInstanceType)
        let lastUUID = try container.decode(String.self, forKey: .lastContainerUUID)
        let state = try container.decode(WorkerState.self, forKey: .workerState)
        let behavior = try container.decode(IdleBehavior.self, forKey: .idleBehavior)
        self.init(
            instance: instance.isEmpty ? nil : InstanceID(rawValue: instance),
            address: try container.decode(String.self, forKey: .address),
            instanceType: InstanceType(
                name: name,
                providerType: try container.decode(String.self, forKey: .providerInstanceType),
                vcpus: 0,
                ram: .zero,
                price: try container.decode(Double.self, forKey: .price)
            ),
            lastContainerUUID: lastUUID.isEmpty ? nil : ContainerUUID(rawValue: lastUUID),
            lastBusy: try container.decode(Timestamp.self, forKey: .lastBusy),
            runningContainerUUIDs: try container.decode([ContainerUUID].self, forKey: .runningContainerUUIDs),
            workerState: state,
            idleBehavior: behavior,
            acceptsContainers: behavior == .run && (state == .idle || state == .running)
        )
    }
}
