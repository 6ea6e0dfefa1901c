/// A container the dispatcher cares about, with what the queue worked out about it on first sight: the unit
/// the container queue caches and the scheduler plans with.
public struct QueueEntry: Hashable, Sendable {
    /// The container as last polled, pushed, or returned by a lock, unlock or cancel: `uuid`, `state`,
    /// `priority`, `runtime_constraints`, `container_image`, `scheduling_parameters`, `created_at`,
    /// `locked_by_uuid` are always meaningful; the rest (the command, …) only once it was pushed or locked.
    /// Never its mounts.
    ///
    /// Held in an immutable shared box: the scheduler copies every entry on every pass, and a `Container`
    /// holds some twenty references to retain, where the box is one. Inlinable, so reading one attribute
    /// (`entry.container.state`) loads that attribute and copies nothing else.
    @inlinable
    public var container: Container {
        get { self.box.value }
        set { self.box = Box(newValue) }
    }
    @usableFromInline
    var box: Box
    /// The instance types that can run it, cheapest first; empty if none can.
    public var instanceTypes: [InstanceType]
    /// What an instance must offer to run it, overhead included.
    public var resources: InstanceResources
    /// When this dispatcher first saw it; ties in priority go to the earliest.
    public var firstSeenAt: Timestamp
    /// For a container that must run on spot (`scheduling_parameters.preemptible`): the on-demand types that could
    /// run it, cheapest first, which it falls back to under `DispatchCloud.SpotFallbackAfter` or
    /// `PreemptionBudget`; empty for other containers, or when no on-demand type fits.
    public var onDemandTypes: [InstanceType]

    public init(
        container: Container,
        instanceTypes: [InstanceType],
        resources: InstanceResources,
        firstSeenAt: Timestamp,
        onDemandTypes: [InstanceType] = []
    ) {
        self.box = Box(container)
        self.instanceTypes = instanceTypes
        self.resources = resources
        self.firstSeenAt = firstSeenAt
        self.onDemandTypes = onDemandTypes
    }

    /// The container's UUID.
    public var uuid: ContainerUUID { self.container.uuid }

    /// Whether the container is a workflow runner (`scheduling_parameters.supervisor`).
    public var isSupervisor: Bool { self.container.schedulingParameters.supervisor }

    public static func == (lhs: QueueEntry, rhs: QueueEntry) -> Bool {
        (lhs.box === rhs.box || lhs.box.value == rhs.box.value) && lhs.instanceTypes == rhs.instanceTypes
            && lhs.resources == rhs.resources && lhs.firstSeenAt == rhs.firstSeenAt
            && lhs.onDemandTypes == rhs.onDemandTypes
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.box.value)
        hasher.combine(self.instanceTypes)
        hasher.combine(self.resources)
        hasher.combine(self.firstSeenAt)
    }

    /// The container's storage, replaced (never changed) when the container changes.
    @usableFromInline
    final class Box: Sendable {
        @usableFromInline
        let value: Container

        @usableFromInline
        init(_ value: Container) { self.value = value }
    }
}
