public import DispatchModel
public import ManagementAPI

/// A ``ManagementAPI/DispatcherControl`` holding instances and a queue in memory, recording every call.
///
/// Setting an idle behaviour changes the instance; killing an instance marks it `shutdown`; killing a container
/// succeeds only for one that runs on an instance. Unknown IDs throw `notFound`, as the real dispatcher does.
/// Every accepted or refused call is appended to ``calls`` and sent to ``callEvents``, so a test can await it.
public actor RecordingDispatcherControl: DispatcherControl {
    /// One call the management API made.
    public enum Call: Hashable, Sendable {
        case setIdleBehavior(InstanceID, IdleBehavior)
        case killInstance(InstanceID, reason: String)
        case killContainer(ContainerUUID, reason: String)
    }

    public private(set) var managedInstances: [ManagedInstance]
    public private(set) var managedQueue: [ManagedContainer]
    /// Every call so far, in order.
    public private(set) var calls: [Call] = []
    /// The calls as they happen (unbounded buffer; one consumer).
    public nonisolated let callEvents: AsyncStream<Call>
    private let callContinuation: AsyncStream<Call>.Continuation
    /// When set, `checkHealth` fails with this message.
    public var healthError: String?
    /// What `costs` answers.
    public var costSummary: CostSummary?

    /// Sets what `costs` answers.
    public func set(costs: CostSummary?) { self.costSummary = costs }

    public func costs() async -> CostSummary? { self.costSummary }

    /// What `explain` answers, by container UUID or instance ID.
    public private(set) var explanations: [String: Explanation] = [:]

    /// Sets what `explain` answers for the explanation's subject.
    public func set(explanation: Explanation) {
        self.explanations[explanation.subject] = explanation
    }

    public func explain(_ subject: Explanation.Subject) async throws(ManagementError) -> Explanation {
        let key =
            switch subject {
            case .container(let uuid): uuid.rawValue
            case .instance(let id): id.rawValue
            }
        guard let explanation = self.explanations[key] else { throw ManagementError(.notFound, "\(key) not found") }
        return explanation
    }

    public init(instances: [ManagedInstance] = [], queue: [ManagedContainer] = []) {
        self.managedInstances = instances
        self.managedQueue = queue
        (self.callEvents, self.callContinuation) = AsyncStream.makeStream(of: Call.self)
    }

    /// Replaces the instances and queue the control shows.
    public func set(instances: [ManagedInstance], queue: [ManagedContainer]) {
        self.managedInstances = instances
        self.managedQueue = queue
    }

    /// Makes `checkHealth` fail with `message`, or succeed again with `nil`.
    public func setHealthError(_ message: String?) {
        self.healthError = message
    }

    public func instances() async -> [ManagedInstance] { self.managedInstances }

    public func queue() async -> [ManagedContainer] { self.managedQueue }

    public func setIdleBehavior(_ id: InstanceID, _ behavior: IdleBehavior) async throws(ManagementError) {
        self.record(.setIdleBehavior(id, behavior))
        guard let index = self.managedInstances.firstIndex(where: { $0.instance == id }) else {
            throw ManagementError(.notFound, "instance not found")
        }
        self.managedInstances[index].idleBehavior = behavior
    }

    public func killInstance(_ id: InstanceID, reason: String) async throws(ManagementError) {
        self.record(.killInstance(id, reason: reason))
        guard let index = self.managedInstances.firstIndex(where: { $0.instance == id }) else {
            throw ManagementError(.notFound, "instance not found")
        }
        self.managedInstances[index].workerState = .shutdown
    }

    public func killContainer(_ uuid: ContainerUUID, reason: String) async throws(ManagementError) {
        self.record(.killContainer(uuid, reason: reason))
        guard self.managedInstances.contains(where: { $0.runningContainerUUIDs.contains(uuid) }) else {
            throw ManagementError(.notFound, "container not found")
        }
    }

    public func checkHealth() async throws(ManagementError) {
        if let message = self.healthError { throw ManagementError(.unavailable, message) }
    }

    private func record(_ call: Call) {
        self.calls.append(call)
        self.callContinuation.yield(call)
    }
}

extension RecordingDispatcherControl {
    /// A control with three instances (running, idle, booting) and a queue of three containers (running,
    /// queued, locked), priced and typed from ``Fixtures``.
    public static func sample(now: Timestamp = .now()) -> RecordingDispatcherControl {
        let small = Fixtures.instanceType(1)
        let large = Fixtures.instanceType(2)
        let running: ContainerUUID = "zzzzz-dz642-runningcontain1"
        let queued: ContainerUUID = "zzzzz-dz642-queuedcontainer"
        let locked: ContainerUUID = "zzzzz-dz642-lockedcontainer"
        let earlier = Timestamp(secondsSince1970: now.secondsSince1970 - 600)
        let instances = [
            ManagedInstance(
                instance: "i-00000001",
                address: "10.0.0.1",
                price: small.price,
                arvadosInstanceType: small.name,
                providerInstanceType: small.providerType,
                lastContainerUUID: running,
                lastBusy: now,
                runningContainerUUIDs: [running],
                workerState: .running,
                firstSeenAt: earlier
            ),
            ManagedInstance(
                instance: "i-00000002",
                address: "10.0.0.2",
                price: large.price,
                arvadosInstanceType: large.name,
                providerInstanceType: large.providerType,
                lastBusy: earlier,
                workerState: .idle,
                firstSeenAt: earlier
            ),
            ManagedInstance(
                instance: "i-00000003",
                price: small.price,
                arvadosInstanceType: small.name,
                providerInstanceType: small.providerType,
                lastBusy: now,
                workerState: .booting,
                firstSeenAt: now
            ),
        ]
        func entry(_ uuid: ContainerUUID, _ state: ContainerState, priority: Int, status: String) -> ManagedContainer {
            var container = Container(
                uuid: uuid,
                state: state,
                priority: priority,
                command: ["sleep", "60"],
                containerImage: "process",
                runtimeConstraints: RuntimeConstraints(vcpus: 1, ram: 256 << 20)
            )
            container.createdAt = earlier
            return ManagedContainer(
                container: container,
                instanceResources: InstanceResources(vcpus: 1, ram: ByteSize(512 << 20)),
                instanceTypes: [small, large],
                firstSeenAt: earlier,
                schedulingStatus: status
            )
        }
        return RecordingDispatcherControl(
            instances: instances,
            queue: [
                entry(running, .running, priority: 5, status: ""),
                entry(
                    locked,
                    .locked,
                    priority: 3,
                    status: "Waiting for a \(small.name) instance to boot and be ready to accept work."
                ),
                entry(
                    queued,
                    .queued,
                    priority: 1,
                    status:
                        "Waiting in queue at position 1.  Cluster is at capacity and cannot start any new instances right now."
                ),
            ]
        )
    }
}
