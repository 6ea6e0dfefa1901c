public import DispatchModel

/// One entry of the scheduler's queue in `GET /arvados/v1/dispatch/containers`, with Arvados's field names
/// (`container.QueueEnt` plus the scheduling status, reference §5.2).
public struct ManagedContainer: Hashable, Sendable, Codable {
    /// The container as last polled; `uuid`, `state`, `priority`, `runtime_constraints`, `container_image`,
    /// `scheduling_parameters`, `created_at` and `locked_by_uuid` are meaningful.
    public var container: Container
    /// What an instance must offer to run it, overhead included (`instance_resources`).
    public var instanceResources: InstanceResources
    /// The instance types that can run it, cheapest first (`instance_types`).
    public var instanceTypes: [InstanceType]
    /// When the dispatcher first saw it (`first_seen_at`).
    public var firstSeenAt: Timestamp
    /// Why it is not running yet, in Arvados's words; empty when there is nothing to say (`scheduling_status`).
    public var schedulingStatus: String
    /// How many times an instance vanished under it while it ran, as this dispatcher process counted (`preemptions`;
    /// not an Arvados field).
    public var preemptions: Int

    public init(
        container: Container,
        instanceResources: InstanceResources,
        instanceTypes: [InstanceType],
        firstSeenAt: Timestamp,
        schedulingStatus: String = "",
        preemptions: Int = 0
    ) {
        self.container = container
        self.instanceResources = instanceResources
        self.instanceTypes = instanceTypes
        self.firstSeenAt = firstSeenAt
        self.schedulingStatus = schedulingStatus
        self.preemptions = preemptions
    }

    enum CodingKeys: String, CodingKey {
        case container
        case instanceResources = "instance_resources"
        case instanceTypes = "instance_types"
        case firstSeenAt = "first_seen_at"
        case schedulingStatus = "scheduling_status"
        case preemptions
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            container: try container.decode(Container.self, forKey: .container),
            instanceResources: try container.decodeIfPresent(InstanceResources.self, forKey: .instanceResources)
                ?? InstanceResources(),
            instanceTypes: try container.decodeIfPresent([InstanceType].self, forKey: .instanceTypes) ?? [],
            firstSeenAt: try container.decode(Timestamp.self, forKey: .firstSeenAt),
            schedulingStatus: try container.decodeIfPresent(String.self, forKey: .schedulingStatus) ?? "",
            preemptions: try container.decodeIfPresent(Int.self, forKey: .preemptions) ?? 0
        )
    }
}
