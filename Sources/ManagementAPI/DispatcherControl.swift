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

    /// One container of ``queue()``, for `GET /arvados/v1/dispatch/container`; `nil` when the dispatcher does
    /// not hold it. Implement it without building the whole queue: it is called once per request.
    func container(_ uuid: ContainerUUID) async -> ManagedContainer?

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

    /// The decision journal's timeline of a container or an instance, with the what-if for a waiting
    /// container (`GET /arvados/v1/dispatch/explain`).
    ///
    /// - Throws: ``ManagementError/Code-swift.struct/notFound`` when the journal knows nothing of it and it is
    ///   neither queued nor a worker.
    func explain(_ subject: Explanation.Subject) async throws(ManagementError) -> Explanation

    /// Every quarantined (instance type, image) pair (`GET /arvados/v1/dispatch/quarantine`).
    func quarantined() async -> [QuarantineEntry]

    /// Lifts a type's quarantine now (`POST /arvados/v1/dispatch/quarantine/lift`).
    ///
    /// - Throws: ``ManagementError/Code-swift.struct/notFound`` when the type is not quarantined.
    func liftQuarantine(_ type: InstanceTypeName) async throws(ManagementError)

    /// What the instances cost over the last days (`GET /arvados/v1/dispatch/costs`); `nil` when not accounted.
    func costs() async -> CostSummary?
}

extension DispatcherControl {
    /// Looks the container up in the whole ``queue()``: for controls with small queues (tests).
    public func container(_ uuid: ContainerUUID) async -> ManagedContainer? {
        await self.queue().first { $0.container.uuid == uuid }
    }

    /// No journal: nothing to explain.
    public func explain(_ subject: Explanation.Subject) async throws(ManagementError) -> Explanation {
        throw ManagementError(.notFound, "this dispatcher keeps no decision journal")
    }

    /// No quarantine.
    public func quarantined() async -> [QuarantineEntry] { [] }

    /// No quarantine.
    public func liftQuarantine(_ type: InstanceTypeName) async throws(ManagementError) {
        throw ManagementError(.notFound, "instance type \(type) is not quarantined")
    }

    /// No cost accounting.
    public func costs() async -> CostSummary? { nil }

    /// Healthy whenever it answers.
    public func checkHealth() async throws(ManagementError) {}
}
