public import DispatchModel

/// One worker (or pending create) as the scheduler and the management API see it (reference §5.2).
///
/// The management API renders it with Arvados's field names (`ManagedInstance`); ``instanceType`` and
/// ``acceptsContainers`` are for the scheduler only.
public struct InstanceView: Hashable, Sendable {
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
}
