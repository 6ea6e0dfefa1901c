/// A container the dispatcher cares about, with what the queue worked out about it on first sight: the unit
/// the container queue caches and the scheduler plans with.
public struct QueueEntry: Hashable, Sendable {
    /// The container as last polled (or as changed locally by lock, unlock or cancel): `uuid`, `state`,
    /// `priority`, `runtime_constraints`, `container_image`, `scheduling_parameters`, `created_at`,
    /// `locked_by_uuid` are meaningful.
    public var container: Container
    /// The instance types that can run it, cheapest first; empty if none can.
    public var instanceTypes: [InstanceType]
    /// What an instance must offer to run it, overhead included.
    public var resources: InstanceResources
    /// When this dispatcher first saw it; ties in priority go to the earliest.
    public var firstSeenAt: Timestamp

    public init(
        container: Container,
        instanceTypes: [InstanceType],
        resources: InstanceResources,
        firstSeenAt: Timestamp
    ) {
        self.container = container
        self.instanceTypes = instanceTypes
        self.resources = resources
        self.firstSeenAt = firstSeenAt
    }

    /// The container's UUID.
    public var uuid: ContainerUUID { self.container.uuid }

    /// Whether the container is a workflow runner (`scheduling_parameters.supervisor`).
    public var isSupervisor: Bool { self.container.schedulingParameters.supervisor }
}
