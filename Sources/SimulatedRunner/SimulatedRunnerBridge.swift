public import ArvadosAPI
public import CloudDriverSimulated
import ContainerRunner
public import DispatchModel

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Plays the runners of a simulated cloud against the container API: the simulated instances run containers
/// in memory and only report what happened (``SimulatedCloudEvent``), so this bridge makes the API calls a
/// real runner (crunch-run, dispatch-runner) makes for each container.
///
/// | Event | What the runner does |
/// |---|---|
/// | `containerStarted` | sets the container Running; if the API refuses (cancelled or unlocked meanwhile), stops the run as a runner does; else arms the container's `max_run_time` |
/// | `containerExited(code)` | writes a log line, then sets it Complete with that exit code |
/// | `maxRunTimeExceeded` | writes a log line, then sets it Cancelled with a `runtime_status` error, as a runner's watchdog |
/// | `containerKilled` | writes a log line, then sets it Cancelled (the runner was told to stop) |
/// | `runnerCrashed`, a lost instance | nothing: the runner is gone, and the dispatcher must notice |
///
/// A real runner stores Running before anything else and its final state before it exits, so the
/// dispatcher never sees a runner gone while its container still shows Running, nor a dead runner's update.
/// With the cloud's `WaitsForRunnerUpdates` on (the `simulated` driver always turns it on), the bridge keeps
/// the same order: it acknowledges each Running update once stored or refused
/// (``SimulatedCloud/acknowledgeStarted(_:on:)``), before which the run cannot end, and each final update
/// (``SimulatedCloud/finalized(_:on:)``), before which a run that ended stays in `--list`. Updates for
/// different containers run concurrently, those for one container in order.
///
/// Each runner reaches the API its `--detach` configuration names (`ARVADOS_API_HOST`, `ARVADOS_API_TOKEN`,
/// `APIScheme`: crunch-run's `ConfigData`, read as `dispatch-runner` reads it), unless the bridge was made
/// with one client for every runner.
public actor SimulatedRunnerBridge<C: Clock, RNG: RandomNumberGenerator & Sendable> where C.Duration == Duration {
    public typealias Cloud = SimulatedCloud<C, RNG>

    /// How runners reach the API: from a runner's `ConfigData`, the client it calls the API with.
    public typealias Connect = @Sendable (_ configuration: [UInt8]) throws -> ArvadosClient

    private let cloud: Cloud
    private let connect: Connect
    private let record: Bool
    private let observe: (@Sendable (SimulatedCloudEvent) async -> Void)?
    private let backoff: @Sendable (Duration) async -> Void
    private var events: [SimulatedCloudEvent] = []
    private var updates: [SimulatedRunnerUpdate] = []
    /// Each container's work waiting behind the work in progress for it (present while some is in progress).
    private var pending: [ContainerUUID: [SimulatedCloudEvent]] = [:]
    /// The client each running container's runner uses.
    private var clients: [ContainerUUID: ArvadosClient] = [:]
    /// Clients by the API a configuration names (its address, token and CA), at most ``clientsPerAPI`` each, taken
    /// in turn: runners of one dispatcher share a few connections.
    private var clientsByAPI: [[UInt8]: (clients: [ArvadosClient], next: Int)] = [:]
    /// The most clients (each one kept-alive connection) the runners of one API share.
    ///
    /// A configuration carries its container's record, so keyed by configuration every runner had a client of its
    /// own: with 10,000 containers running in `serve`, 10,000 connections to its own API, 20,000 descriptors
    /// with the API's side, and the daemon crashed at its open-files limit.
    static var clientsPerAPI: Int { 8 }

    /// - Parameters:
    ///   - cloud: the cloud whose runners to play.
    ///   - client: one client for every runner, or `nil` to connect each runner as its configuration says.
    ///   - record: keep every event and update, for a test to read back (``recordedEvents``,
    ///     ``recordedUpdates``); off in the product, where they would grow without bound.
    ///   - observe: called with each event before the bridge handles it, for a test that adds chaos of its
    ///     own (such as deleting instances behind the dispatcher's back).
    ///   - backoff: waits between retries of an update the API could not take (503, transport error).
    public init(
        cloud: Cloud,
        client: ArvadosClient? = nil,
        record: Bool = false,
        observe: (@Sendable (SimulatedCloudEvent) async -> Void)? = nil,
        backoff: @escaping @Sendable (Duration) async -> Void = { try? await Task.sleep(for: $0) }
    ) {
        self.cloud = cloud
        if let client {
            self.connect = { _ in client }
        } else {
            self.connect = { try Self.connectAsConfigured($0) }
        }
        self.record = record
        self.observe = observe
        self.backoff = backoff
    }

    /// Connects runners with `connect` (for example to an API in the same process).
    public init(
        cloud: Cloud,
        connect: @escaping Connect,
        record: Bool = false,
        observe: (@Sendable (SimulatedCloudEvent) async -> Void)? = nil,
        backoff: @escaping @Sendable (Duration) async -> Void = { try? await Task.sleep(for: $0) }
    ) {
        self.cloud = cloud
        self.connect = connect
        self.record = record
        self.observe = observe
        self.backoff = backoff
    }

    /// A client of the API a runner's `ConfigData` names, made as `dispatch-runner` makes its own.
    public static func connectAsConfigured(_ configuration: [UInt8]) throws -> ArvadosClient {
        let decoded = try JSONDecoder().decode(RunnerConfiguration.self, from: Data(configuration))
        return try decoded.client()
    }

    /// Every event seen so far, in order (when recording).
    public var recordedEvents: [SimulatedCloudEvent] { self.events }

    /// Every update made so far, in order (when recording).
    public var recordedUpdates: [SimulatedRunnerUpdate] { self.updates }

    /// Handles the cloud's events until its stream finishes (``SimulatedCloud/stop()``) or the task is
    /// cancelled; returns once the updates in progress are done.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await event in self.cloud.events {
                if self.record { self.events.append(event) }
                await self.observe?(event)
                guard let uuid = Self.container(of: event) else { continue }
                if self.pending[uuid] != nil {
                    self.pending[uuid, default: []].append(event)
                    continue
                }
                self.pending[uuid] = []
                group.addTask {
                    var next: SimulatedCloudEvent? = event
                    while let event = next {
                        await self.handle(event, for: uuid)
                        next = await self.takeNext(for: uuid)
                    }
                }
            }
        }
    }

    /// The container an event asks the runner to act for, if any.
    private static func container(of event: SimulatedCloudEvent) -> ContainerUUID? {
        guard event.instanceID != nil else { return nil }
        switch event.kind {
        case .containerStarted(let uuid), .containerExited(let uuid, _), .maxRunTimeExceeded(let uuid),
            .containerKilled(let uuid, _):
            return uuid
        default:
            return nil
        }
    }

    private func takeNext(for uuid: ContainerUUID) -> SimulatedCloudEvent? {
        guard var queued = self.pending[uuid], !queued.isEmpty else {
            self.pending[uuid] = nil
            return nil
        }
        let next = queued.removeFirst()
        self.pending[uuid] = queued
        return next
    }

    private func handle(_ event: SimulatedCloudEvent, for uuid: ContainerUUID) async {
        guard let id = event.instanceID else { return }
        switch event.kind {
        case .containerStarted:
            await self.start(uuid, on: id, event: event)
        case .containerExited(_, let exitCode):
            await self.finish(
                uuid,
                on: id,
                event: event,
                state: .complete,
                note: "container exited with code \(exitCode)",
                ["state": .string("Complete"), "exit_code": .int(Int64(exitCode))]
            )
        case .maxRunTimeExceeded:
            await self.finish(
                uuid,
                on: id,
                event: event,
                state: .cancelled,
                note: "maximum run time exceeded",
                [
                    "state": .string("Cancelled"),
                    "runtime_status": .object([
                        "error": .string("maximum run time exceeded"),
                        "errorDetail": .string("the simulated runner stopped the container at its max_run_time"),
                    ]),
                ]
            )
        case .containerKilled(_, let signal):
            await self.finish(
                uuid,
                on: id,
                event: event,
                state: .cancelled,
                note: "container stopped on request (signal \(signal))",
                ["state": .string("Cancelled")]
            )
        default:
            break
        }
    }

    private func start(_ uuid: ContainerUUID, on id: InstanceID, event: SimulatedCloudEvent) async {
        let client: ArvadosClient
        do {
            guard let configuration = await self.cloud.runnerConfiguration(of: uuid, on: id) else {
                // Killed or lost before the runner got going.
                await self.cloud.acknowledgeStarted(uuid, on: id)
                return
            }
            client = try self.client(for: configuration)
        } catch {
            // A runner that cannot read its configuration exits at once, leaving the container Locked.
            self.note(event, state: .running, failure: "configuration: \(error)")
            await self.cloud.abandon(uuid, on: id)
            return
        }
        self.clients[uuid] = client
        let outcome = await self.update(uuid, client: client, ["state": .string("Running")])
        self.note(event, state: .running, failure: outcome.failure)
        switch outcome {
        case .stored(let container):
            let limit = container.schedulingParameters.maxRunTime
            if limit > 0 { await self.cloud.limitRun(uuid, on: id, to: .seconds(limit)) }
        case .refused:
            // Cancelled, or unlocked since the dispatcher locked it: a runner stops and leaves it be.
            self.clients[uuid] = nil
            await self.cloud.abandon(uuid, on: id)
        case .failed:
            break
        }
        await self.cloud.acknowledgeStarted(uuid, on: id)
    }

    private func finish(
        _ uuid: ContainerUUID,
        on id: InstanceID,
        event: SimulatedCloudEvent,
        state: ContainerState,
        note: String,
        _ attributes: [String: JSONValue]
    ) async {
        defer { self.clients[uuid] = nil }
        guard let client = self.clients[uuid] else {
            await self.cloud.finalized(uuid, on: id)
            return
        }
        let log = ArvadosLog(
            objectUUID: uuid.rawValue,
            eventType: "crunch-run",
            properties: ["text": .string("simulated runner on \(id): \(note)\n")]
        )
        try? await client.writeLog(log)
        let outcome = await self.update(uuid, client: client, attributes)
        self.note(event, state: state, failure: outcome.failure)
        await self.cloud.finalized(uuid, on: id)
    }

    private func client(for configuration: [UInt8]) throws -> ArvadosClient {
        let key = Self.apiKey(of: configuration)
        var pool = self.clientsByAPI[key] ?? ([], 0)
        let client: ArvadosClient
        if pool.clients.count < Self.clientsPerAPI {
            client = try self.connect(configuration)
            pool.clients.append(client)
        } else {
            client = pool.clients[pool.next]
            pool.next = (pool.next + 1) % pool.clients.count
        }
        self.clientsByAPI[key] = pool
        return client
    }

    /// The top-level members of a runner's `ConfigData` that decide its connection, in a fixed order.
    private static var connectionMemberNames: [String] { ["Env", "APIScheme"] }

    /// What decides the connection a configuration's client makes: the API's address, the token and the CA, or the
    /// whole configuration when it is not a runner's `ConfigData`.
    ///
    /// Only the members that name the connection are decoded (not the container record, which makes most of the
    /// cost of decoding a whole configuration), once per container start.
    static func apiKey(of configuration: [UInt8]) -> [UInt8] {
        guard let members = Self.connectionMembers(of: configuration) else { return configuration }
        var decoded = RunnerConfiguration(env: members.env ?? [:])
        decoded.apiScheme = members.apiScheme
        let address = (try? decoded.apiAddress().description) ?? ""
        let parts = [
            address, decoded.env["ARVADOS_API_TOKEN"] ?? "", decoded.env[ArvadosClient.caVariable] ?? "",
            decoded.env["ARVADOS_API_HOST_INSECURE"] ?? "",
        ]
        return Array(parts.joined(separator: "\u{0}").utf8)
    }

    /// The connection members of `configuration`, a JSON object; `nil` when it is not one.
    ///
    /// The two members are found by walking the object's top level, stepping over the other members' values (the
    /// container record makes most of the document) without decoding them, and only they are decoded. A document
    /// the walk cannot follow (a member name with an escape, say) is decoded whole, as before.
    static func connectionMembers(of configuration: [UInt8]) -> ConnectionMembers? {
        if let ranges = TopLevelMembers.ranges(of: configuration, named: Set(Self.connectionMemberNames)) {
            // Read as `JSONDecoder` reads `[String: String]?` and `String?` (the tests compare the two), by the
            // parser the API uses (`JSONDecoder` took 0.8% of a simulated week here).
            var members = ConnectionMembers()
            if let env = ranges["Env"] {
                switch try? JSONParser.parse(configuration[env]) {
                case .null: break
                case .object(let object):
                    var strings: [String: String] = [:]
                    for (name, value) in object {
                        guard case .string(let text) = value else { return nil }
                        strings[name] = text
                    }
                    members.env = strings
                default: return nil
                }
            }
            if let scheme = ranges["APIScheme"] {
                switch try? JSONParser.parse(configuration[scheme]) {
                case .null: break
                case .string(let text): members.apiScheme = text
                default: return nil
                }
            }
            return members
        }
        return try? JSONDecoder().decode(ConnectionMembers.self, from: Data(configuration))
    }

    /// The members of a runner's `ConfigData` that decide its API connection.
    struct ConnectionMembers: Decodable, Equatable {
        var env: [String: String]?
        var apiScheme: String?

        enum CodingKeys: String, CodingKey {
            case env = "Env"
            case apiScheme = "APIScheme"
        }
    }

    private func note(_ event: SimulatedCloudEvent, state: ContainerState, failure: String?) {
        guard self.record else { return }
        self.updates.append(SimulatedRunnerUpdate(event: event, state: state, failure: failure))
    }

    enum Outcome {
        case stored(Container)
        case refused(String)
        case failed(String)

        var failure: String? {
            switch self {
            case .stored: nil
            case .refused(let why), .failed(let why): why
            }
        }
    }

    /// Updates a container, retrying what a runner retries (the API briefly busy or unreachable).
    private func update(
        _ uuid: ContainerUUID,
        client: ArvadosClient,
        _ attributes: [String: JSONValue]
    ) async -> Outcome {
        var delay = Duration.milliseconds(50)
        var failure = ""
        for _ in 0..<8 {
            do {
                return .stored(try await client.updateContainer(uuid, attributes))
            } catch {
                failure = "\(error.code): \(error.message)"
                if [.conflict, .unprocessable, .notFound, .forbidden].contains(error.code) { return .refused(failure) }
                guard error.code == .transport || error.code == .serviceUnavailable else { return .failed(failure) }
                await self.backoff(delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
        return .failed(failure)
    }
}

/// One update a ``SimulatedRunnerBridge`` made (or tried to make) for an event.
public struct SimulatedRunnerUpdate: Sendable, Hashable {
    /// The event that caused it.
    public var event: SimulatedCloudEvent
    /// The state asked for.
    public var state: ContainerState
    /// `nil` if the API accepted it; else why it could not.
    public var failure: String?
}
