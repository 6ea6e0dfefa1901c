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
    public var container: Container {
        @inlinable get { self.box.value }
        set {
            self.box = Box(newValue)
            self.summary = Summary(newValue)
            self.uuid = newValue.uuid
        }
    }
    /// The container's UUID, kept beside the record: a pass matches every entry to the pool's runners by it, and
    /// reading it from the record (stored apart) missed the cache for most entries.
    public private(set) var uuid: ContainerUUID
    /// What a scheduling pass reads of every entry, copied out of ``container`` (and kept with it): a pass over
    /// 100,000 entries then reads them from the queue's array in order, rather than from 100,000 records
    /// scattered in memory.
    public private(set) var summary: Summary
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
        self.summary = Summary(container)
        self.uuid = container.uuid
        self.instanceTypes = instanceTypes
        self.resources = resources
        self.firstSeenAt = firstSeenAt
        self.onDemandTypes = onDemandTypes
    }

    /// Identifies the entry's current record: the same while ``container`` is not set again, and never the same
    /// for two records that exist at once. (Records are immutable and shared: a pass that keeps the entries it
    /// compares with alive can tell an unchanged entry by this alone, without reading the record.)
    @inlinable
    public var recordID: ObjectIdentifier { ObjectIdentifier(self.box) }

    /// The fields of ``container`` a scheduling pass reads of every entry.
    public struct Summary: Hashable, Sendable {
        public var state: ContainerState
        public var priority: Int
        /// `scheduling_parameters.supervisor`.
        public var isSupervisor: Bool
        public var createdAt: Timestamp?
        /// ``ContainerUUID/digest`` of the UUID.
        public var uuidDigest: UInt64

        init(_ container: Container) {
            self.state = container.state
            self.priority = container.priority
            self.isSupervisor = container.schedulingParameters.supervisor
            self.createdAt = container.createdAt
            self.uuidDigest = container.uuid.digest
        }
    }

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
