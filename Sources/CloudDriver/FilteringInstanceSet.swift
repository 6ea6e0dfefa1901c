public import DispatchModel
public import Logging

/// Applies the tag filter of `instances(tagged:)` exactly, for drivers that ignore or widen it.
///
/// An instance is kept only if it carries every requested tag with the requested value.
public struct FilteringInstanceSet<Base: InstanceSet>: InstanceSet {
    public typealias Instance = Base.Instance

    private let base: Base
    private let logger: Logger

    public init(_ base: Base, logger: Logger) {
        self.base = base
        self.logger = logger
    }

    public func create(
        type: InstanceType,
        imageID: ImageID,
        tags: InstanceTags,
        initCommand: String,
        publicKey: String?
    ) async throws(CloudError) -> Instance {
        try await self.base.create(
            type: type,
            imageID: imageID,
            tags: tags,
            initCommand: initCommand,
            publicKey: publicKey
        )
    }

    public func instances(tagged tags: InstanceTags) async throws(CloudError) -> [Instance] {
        let listed = try await self.base.instances(tagged: tags)
        // Drivers that apply the filter themselves (most) return only matches: then the list is returned as it came,
        // not copied into a new one (a list comes every `SyncInterval`, of every instance).
        guard let firstSkipped = listed.firstIndex(where: { !$0.tags.carriesEvery(tags) }) else { return listed }
        var kept = Array(listed[..<firstSkipped])
        kept.reserveCapacity(listed.count - 1)
        for instance in listed[(firstSkipped + 1)...] where instance.tags.carriesEvery(tags) { kept.append(instance) }
        self.logger.debug(
            "Filtered listed instances by tag",
            metadata: ["instances.returned": "\(kept.count)", "instances.skipped": "\(listed.count - kept.count)"]
        )
        return kept
    }

    public func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup {
        self.base.quotaGroup(for: type)
    }

    public func stop() async {
        await self.base.stop()
    }
}
