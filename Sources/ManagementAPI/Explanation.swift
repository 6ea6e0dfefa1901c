public import DispatchModel

/// What `GET /arvados/v1/dispatch/explain` answers: the timeline of one container or instance from the
/// decision journal and, for a container still waiting, what stops it and the smallest change that would
/// let it start.
public struct Explanation: Codable, Hashable, Sendable {
    /// What the timeline is about.
    public enum Subject: Hashable, Sendable {
        case container(ContainerUUID)
        case instance(InstanceID)
    }

    /// `container` or `instance`.
    public var subjectKind: String
    /// The container UUID or instance ID.
    public var subject: String
    /// The journal's events about the subject, oldest first.
    public var events: [JournalEvent]
    /// The container's scheduling status now, if it is in the queue.
    public var schedulingStatus: String?
    /// What stops a waiting container now.
    public var waitingBecause: String?
    /// The smallest change that would let it start.
    public var wouldStartIf: String?

    public init(
        subject: Subject,
        events: [JournalEvent],
        schedulingStatus: String? = nil,
        waitingBecause: String? = nil,
        wouldStartIf: String? = nil
    ) {
        switch subject {
        case .container(let uuid):
            self.subjectKind = "container"
            self.subject = uuid.rawValue
        case .instance(let id):
            self.subjectKind = "instance"
            self.subject = id.rawValue
        }
        self.events = events
        self.schedulingStatus = schedulingStatus
        self.waitingBecause = waitingBecause
        self.wouldStartIf = wouldStartIf
    }

    enum CodingKeys: String, CodingKey {
        case subjectKind = "subject_kind"
        case subject
        case events
        case schedulingStatus = "scheduling_status"
        case waitingBecause = "waiting_because"
        case wouldStartIf = "would_start_if"
    }

    /// The explanation as text, one event a line, then the what-if.
    public var text: String {
        var lines = ["\(self.subjectKind) \(self.subject)"]
        if self.events.isEmpty { lines.append("  (no journal events)") }
        for event in self.events { lines.append("  " + event.line) }
        if let status = self.schedulingStatus, !status.isEmpty { lines.append("status: \(status)") }
        if let waiting = self.waitingBecause { lines.append("waiting because: \(waiting)") }
        if let change = self.wouldStartIf { lines.append("would start if: \(change)") }
        return lines.joined(separator: "\n") + "\n"
    }
}
