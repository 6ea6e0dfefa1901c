public import CloudDriver
public import DispatchModel
import Synchronization

/// The freshest listing of one instance, shared between the pool and the instance's executor.
///
/// The pool makes one per worker and hands it to its `makeExecutor` factory; when a cloud sync finds the
/// instance at a new address, the pool replaces the listing here, so an executor that dials (SSH) reads the
/// address, user and tags it needs from ``current`` on each new connection.
public final class InstanceListing<Instance: CloudInstance>: Sendable {
    /// The instance's ID, the same in every listing.
    public let id: InstanceID
    private let latest: Mutex<Instance>

    init(_ instance: Instance) {
        self.id = instance.id
        self.latest = Mutex(instance)
    }

    /// The instance as last listed.
    public var current: Instance { self.latest.withLock { $0 } }

    func update(_ instance: Instance) {
        self.latest.withLock { $0 = instance }
    }
}
