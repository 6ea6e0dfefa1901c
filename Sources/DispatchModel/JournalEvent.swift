/// One decision the dispatcher acted on, as the decision journal records it: when, about what (a container,
/// an instance, or both), what was decided, why, and the figures behind it.
///
/// Events are recorded where the decision is made (the scheduling loop applying a plan, the worker pool
/// performing what a worker's state machine returned), with the wall-clock time read there.
public struct JournalEvent: Hashable, Sendable, Codable {
    /// What was decided. Extensible: new kinds are new static values, never a broken switch.
    public struct Kind: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { self.rawValue }

        /// A Queued container was locked for this dispatcher.
        public static let lock = Kind(rawValue: "lock")
        /// A Locked container was returned to the queue (requeued).
        public static let unlock = Kind(rawValue: "unlock")
        /// A container was started on an instance.
        public static let start = Kind(rawValue: "start")
        /// A container was cancelled, with the rule that decided it.
        public static let cancel = Kind(rawValue: "cancel")
        /// An instance create was requested, for which containers and why that type.
        public static let create = Kind(rawValue: "create")
        /// A create failed and the cloud's answer holds creates (quota, capacity, rate limit).
        public static let hold = Kind(rawValue: "hold")
        /// A container's wait changed reason (quota, MaxInstances, capacity, supervisor limit, ...).
        public static let wait = Kind(rawValue: "wait")
        /// A probe changed an instance's state (booted, broken).
        public static let probe = Kind(rawValue: "probe")
        /// An instance was shut down, with the reason (idle, unneeded, drain, timeouts, operator kill).
        public static let shutdown = Kind(rawValue: "shutdown")
        /// An instance or a runner left by a previous process was adopted.
        public static let adopt = Kind(rawValue: "adopt")
        /// An instance appeared in the cloud's list.
        public static let appear = Kind(rawValue: "appear")
        /// An instance vanished from the cloud's list (destroyed, or preempted).
        public static let vanish = Kind(rawValue: "vanish")
        /// A container's runner ended on its instance.
        public static let runnerEnded = Kind(rawValue: "runner-ended")
        /// A container's runner is being killed.
        public static let kill = Kind(rawValue: "kill")
        /// An (instance type, image) pair was quarantined after failed boots.
        public static let quarantine = Kind(rawValue: "quarantine")
        /// A quarantine was lifted (expired, or by an operator).
        public static let quarantineLifted = Kind(rawValue: "quarantine-lifted")
    }

    /// A number or value behind the decision, by name, in the order the recorder gave.
    public struct Figure: Hashable, Sendable, Codable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The journal's order of recording, assigned by the journal (0 until then); ties in ``time`` read in
    /// this order.
    public var sequence: Int64
    /// The wall-clock time of the decision.
    public var time: Timestamp
    public var kind: Kind
    /// The container the decision is about, if any.
    public var container: ContainerUUID?
    /// The instance the decision is about, if any.
    public var instance: InstanceID?
    /// The instance type involved, if any.
    public var instanceType: InstanceTypeName?
    /// Why, in words for operators.
    public var reason: String
    public var figures: [Figure]

    public init(
        time: Timestamp,
        kind: Kind,
        container: ContainerUUID? = nil,
        instance: InstanceID? = nil,
        instanceType: InstanceTypeName? = nil,
        reason: String = "",
        figures: [Figure] = []
    ) {
        self.sequence = 0
        self.time = time
        self.kind = kind
        self.container = container
        self.instance = instance
        self.instanceType = instanceType
        self.reason = reason
        self.figures = figures
    }

    enum CodingKeys: String, CodingKey {
        case sequence, time, kind, container, instance
        case instanceType = "instance_type"
        case reason, figures
    }

    /// The event on one line, for the `explain` command: time, kind, subjects, reason, figures.
    public var line: String {
        var parts = [self.time.rfc3339, self.kind.rawValue]
        if let container = self.container { parts.append("container=\(container)") }
        if let instance = self.instance { parts.append("instance=\(instance)") }
        if let type = self.instanceType { parts.append("type=\(type)") }
        var text = parts.joined(separator: " ")
        if !self.reason.isEmpty { text += ": " + self.reason }
        if !self.figures.isEmpty {
            text += " (" + self.figures.map { "\($0.name)=\($0.value)" }.joined(separator: ", ") + ")"
        }
        return text
    }
}

/// Where decisions are recorded: the decision journal, or nowhere.
///
/// Injected into the scheduling loop and the worker pool; recording must be cheap and never block, since it
/// happens on the dispatch path (the journal appends under a lock and writes to disk later, in batches).
public struct JournalSink: Sendable {
    private let body: (@Sendable (JournalEvent) -> Void)?

    /// A sink that passes each event to `body`.
    public init(_ body: @escaping @Sendable (JournalEvent) -> Void) {
        self.body = body
    }

    private init() { self.body = nil }

    /// Records nothing.
    public static var none: JournalSink { JournalSink() }

    /// Whether events go anywhere (so callers can skip building ones nobody reads).
    public var isEnabled: Bool { self.body != nil }

    /// Records an event; it is only built when the sink is enabled.
    public func record(_ event: @autoclosure () -> JournalEvent) {
        guard let body = self.body else { return }
        body(event())
    }
}
