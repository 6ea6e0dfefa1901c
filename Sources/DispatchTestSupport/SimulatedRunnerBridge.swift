public import ArvadosAPI
public import CloudDriverSimulated
public import DispatchModel

/// Plays the runner's part in the container API for the containers a simulated cloud runs: the simulated
/// instances run containers in memory and only report what happened (``SimulatedCloudEvent``), so this
/// bridge does what a real runner would do with the API.
///
/// - `containerStarted`: sets the container Running.
/// - `containerExited(code)`: sets it Complete with that exit code.
/// - `runnerCrashed`, `containerKilled`: nothing; the runner is gone, and the dispatcher must notice.
///
/// A real runner stores Running before anything else and Complete before it exits, so the dispatcher never
/// sees a runner gone while its container still shows Running, nor a dead runner's update. With the cloud's
/// `WaitsForRunnerUpdates` on and `started` / `finalized` given, the bridge keeps the same order: it
/// acknowledges each Running update once stored (or refused), before which the run cannot end, and each
/// Complete update, before which an exited container stays in `--list`. Updates for different containers
/// run concurrently, those for one container in order (Running before Complete).
/// Every event is kept, with the outcome of the update it caused, for the test to check afterwards.
public actor SimulatedRunnerBridge {
    /// One update the bridge made (or tried to make) for an event.
    public struct Update: Sendable, Hashable {
        /// The event that caused it.
        public var event: SimulatedCloudEvent
        /// The state asked for.
        public var state: ContainerState
        /// `nil` if the API accepted it; else why it refused.
        public var failure: String?
    }

    private let client: ArvadosClient
    private let observe: (@Sendable (SimulatedCloudEvent) async -> Void)?
    private let started: (@Sendable (ContainerUUID, InstanceID) async -> Void)?
    private let finalized: (@Sendable (ContainerUUID, InstanceID) async -> Void)?
    private var events: [SimulatedCloudEvent] = []
    private var updates: [Update] = []

    /// - Parameters:
    ///   - client: a client with the token runners use (the dispatcher's root token).
    ///   - observe: called with each event before the bridge handles it, for a test that adds chaos of its
    ///     own (such as deleting instances behind the dispatcher's back).
    ///   - started: called once a container's Running update is stored or refused for good, with the instance
    ///     it runs on; pass ``SimulatedCloud/acknowledgeStarted(_:on:)``.
    ///   - finalized: called once a container's Complete update is stored or refused for good, with the
    ///     instance it ran on; pass ``SimulatedCloud/finalized(_:on:)`` so the runner leaves `--list` then.
    public init(
        client: ArvadosClient,
        observe: (@Sendable (SimulatedCloudEvent) async -> Void)? = nil,
        started: (@Sendable (ContainerUUID, InstanceID) async -> Void)? = nil,
        finalized: (@Sendable (ContainerUUID, InstanceID) async -> Void)? = nil
    ) {
        self.client = client
        self.observe = observe
        self.started = started
        self.finalized = finalized
    }

    /// Every event seen so far, in order.
    public var recordedEvents: [SimulatedCloudEvent] { self.events }

    /// Every update made so far, in order.
    public var recordedUpdates: [Update] { self.updates }

    /// Handles `events` until the stream finishes (``SimulatedCloud/stop()``) or the task is cancelled.
    public func run(_ events: AsyncStream<SimulatedCloudEvent>) async {
        var chains: [ContainerUUID: Task<Void, Never>] = [:]
        for await event in events {
            self.events.append(event)
            await self.observe?(event)
            let change: (ContainerUUID, ContainerState, [String: JSONValue])
            switch event.kind {
            case .containerStarted(let uuid):
                change = (uuid, .running, ["state": .string("Running")])
            case .containerExited(let uuid, let exitCode):
                change = (uuid, .complete, ["state": .string("Complete"), "exit_code": .int(Int64(exitCode))])
            default:
                continue
            }
            let previous = chains[change.0]
            let acknowledge = change.1 == .complete ? self.finalized : self.started
            chains[change.0] = Task {
                await previous?.value
                await self.update(change.0, for: event, state: change.1, change.2)
                if let acknowledge, let id = event.instanceID { await acknowledge(change.0, id) }
            }
        }
        for chain in chains.values { await chain.value }
    }

    /// Updates a container, retrying transport errors (the API may be briefly busy) a few times.
    private func update(
        _ uuid: ContainerUUID,
        for event: SimulatedCloudEvent,
        state: ContainerState,
        _ attributes: [String: JSONValue]
    ) async {
        var failure: String?
        for attempt in 0..<5 {
            do {
                _ = try await self.client.updateContainer(uuid, attributes)
                failure = nil
                break
            } catch {
                failure = "\(error.code): \(error.message)"
                guard error.code == .transport || error.code == .serviceUnavailable else { break }
                try? await Task.sleep(for: .milliseconds(50 * (attempt + 1)))
            }
        }
        self.updates.append(Update(event: event, state: state, failure: failure))
    }
}
