public import DispatchModel

/// The dispatcher as the management API sees it: what it shows and what an operator may ask of it.
///
/// The daemon assembly implements this over the worker pool, the container queue and the scheduler; the
/// management routes (``ManagementRoutes``) and the dashboard know nothing else about them. Every method is
/// called from HTTP request handlers, concurrently.
public protocol DispatcherControl: Sendable {
    /// Every worker and pending create, for `GET /arvados/v1/dispatch/instances`.
    ///
    /// The routes sort the list by instance ID, then type, as Arvados does; pending creates have no ID.
    func instances() async -> [ManagedInstance]

    /// Every container the dispatcher cares about, in scheduling order, for `GET /arvados/v1/dispatch/containers`.
    func queue() async -> [ManagedContainer]

    /// Sets an instance's idle behaviour (the `hold`, `drain` and `run` routes).
    ///
    /// - Throws: ``ManagementError/Code-swift.struct/notFound`` when no worker has that ID.
    func setIdleBehavior(_ id: InstanceID, _ behavior: IdleBehavior) async throws(ManagementError)

    /// Destroys an instance now, abandoning whatever runs on it (`POST /arvados/v1/dispatch/instances/kill`).
    ///
    /// `reason` arrives prefixed with `via management API: `, for the logs.
    ///
    /// - Throws: ``ManagementError/Code-swift.struct/notFound`` when no worker has that ID.
    func killInstance(_ id: InstanceID, reason: String) async throws(ManagementError)

    /// Starts stopping a container's runner (`POST /arvados/v1/dispatch/containers/kill`).
    ///
    /// `reason` arrives prefixed with `via management API: `, for the logs.
    ///
    /// - Throws: ``ManagementError/Code-swift.struct/notFound`` when the container runs on no instance.
    func killContainer(_ uuid: ContainerUUID, reason: String) async throws(ManagementError)

    /// Whether the dispatcher is healthy, for `GET /_health/ping` (Arvados checks that the runner binary
    /// loads); throws a message for people when it is not.
    func checkHealth() async throws(ManagementError)
}

extension DispatcherControl {
    /// Healthy whenever it answers.
    public func checkHealth() async throws(ManagementError) {}
}
