/// The state of an Arvados container.
///
/// The lifecycle is Queued → Locked → Running → Complete or Cancelled, with Locked → Queued (unlock)
/// and Queued/Locked → Cancelled.
public enum ContainerState: String, Hashable, Sendable, Codable, CaseIterable {
    case queued = "Queued"
    case locked = "Locked"
    case running = "Running"
    case complete = "Complete"
    case cancelled = "Cancelled"

    /// Whether the container has finished for good.
    public var isFinal: Bool { self == .complete || self == .cancelled }

    /// Whether Arvados allows a container to move from this state to `next`.
    public func canTransition(to next: ContainerState) -> Bool {
        switch (self, next) {
        case (.queued, .locked), (.queued, .cancelled),
            (.locked, .queued), (.locked, .running), (.locked, .cancelled),
            (.running, .complete), (.running, .cancelled):
            true
        default:
            false
        }
    }
}
