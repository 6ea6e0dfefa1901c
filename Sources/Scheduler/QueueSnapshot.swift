public import DispatchModel

/// The container queue as one planning pass sees it: every cached entry and when the cache was refreshed.
///
/// The queue owns the cache; the planner only reads this copy, so a pass is a pure function of its inputs.
public struct QueueSnapshot: Sendable {
    /// Every cached entry, in no particular order; container UUIDs are unique.
    public var entries: [QueueEntry]
    /// When the last successful queue update *started* (Arvados's `qUpdated`), or `nil` before the first.
    ///
    /// The reconciliation acts on a runner's exit only once a queue update that started after the exit
    /// has completed, so a container that finalized itself is not wrongly cancelled or requeued.
    public var updatedAt: Timestamp?

    public init(entries: [QueueEntry], updatedAt: Timestamp?) {
        self.entries = entries
        self.updatedAt = updatedAt
    }
}

/// One container in the queue cache, with what the queue computed for it on first sight.
public struct QueueEntry: Sendable {
    /// The container as last fetched (or as changed locally by lock, unlock or cancel).
    public var container: Container
    /// The instance types that can run the container, cheapest first; empty if none can.
    public var instanceTypes: [InstanceType]
    /// What an instance must offer to run the container, overhead included.
    public var resources: InstanceResources
    /// When this dispatcher first saw the container; the tie-breaker between equal priorities.
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
