public import DispatchModel

/// A set of VM instances that one dispatcher owns at one cloud provider (reference §6.1).
///
/// An instance set must not modify or destroy instances that are not tagged with its own ID. All methods
/// may be called concurrently.
public protocol InstanceSet: Sendable {
    /// The instances this set creates and lists.
    associatedtype Instance: CloudInstance

    /// Creates an instance of `type` from `imageID`, carrying `tags`.
    ///
    /// - Parameters:
    ///   - type: The instance type; the driver creates its `providerType`.
    ///   - imageID: The VM image to boot.
    ///   - tags: The tags the instance carries from creation on.
    ///   - initCommand: A shell script (under 1 KiB) to run as root at first boot; it writes the instance
    ///     secret that host verification reads back.
    ///   - publicKey: The dispatcher's SSH public key in OpenSSH form, to authorize for ``CloudInstance/remoteUser``,
    ///     or `nil` when the image already authorizes it.
    func create(
        type: InstanceType,
        imageID: ImageID,
        tags: InstanceTags,
        initCommand: String,
        publicKey: String?
    ) async throws(CloudError) -> Instance

    /// Lists the instances carrying every tag in `tags`, including booting and shutting-down ones.
    ///
    /// A driver may ignore the filter and return more; ``FilteringInstanceSet`` applies it exactly.
    func instances(tagged tags: InstanceTags) async throws(CloudError) -> [Instance]

    /// The quota group `type` counts against; preemptible and on-demand types are in different groups.
    func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup

    /// Releases the set's resources (connections, timers); the set is not used afterwards.
    func stop() async
}

extension [String: String] {
    /// Whether these instance tags carry every tag of `wanted` with its value: the filter of
    /// ``InstanceSet/instances(tagged:)``.
    public func carriesEvery(_ wanted: InstanceTags) -> Bool {
        wanted.allSatisfy { self[$0.key] == $0.value }
    }
}
