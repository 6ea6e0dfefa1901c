/// What the pool knows of one container's runner process, as a planning pass reads it.
///
/// The pool keeps its runner table in this form, so a pass takes the table as it is (a dictionary shared, not
/// converted: at a thousand workers the conversion at every change of the pool was a tenth of a simulated day).
public struct RunnerStatus: Hashable, Sendable {
    /// When the pool noticed the runner had exited; `nil` while it is starting or running.
    public var exitedAt: Timestamp?
    /// Its container is Complete and the pool already waits for it to exit by itself (the scheduler told the pool
    /// the container finished).
    public var finishing: Bool

    public init(exitedAt: Timestamp? = nil, finishing: Bool = false) {
        self.exitedAt = exitedAt
        self.finishing = finishing
    }

    /// Whether the runner had exited before `update` (the queue's last update): the queue then shows what the
    /// runner left, so a container still Running on it lost its run.
    public func exited(before update: Timestamp?) -> Bool {
        guard let exited = self.exitedAt, let update else { return false }
        return update > exited
    }
}
