public import DispatchModel

/// The container queue as one planning pass sees it: every cached entry and when the cache was refreshed.
///
/// The queue owns the cache; the planner only reads this copy, so a pass is a pure function of its inputs.
public struct QueueSnapshot: Sendable {
    /// Every cached entry, in no particular order; container UUIDs are unique.
    public var entries: [QueueEntry]
    /// When the last successful queue update *started* (Arvados's `qUpdated`), or `nil` before the first.
    ///
    /// The reconciliation acts on a runner's exit only once a queue update that started after the exit
    /// has completed, so a container that finalized itself is not wrongly cancelled or requeued.
    public var updatedAt: Timestamp?
    /// Identifies ``entries``: two snapshots from one queue with the same non-nil version hold the same entries
    /// in the same order (the scheduling loop then skips planning again what it has just planned).
    public var version: UInt64?
    /// The same entries by UUID, when the queue keeps them so (its own dictionary, shared rather than copied):
    /// a pass then finds a container by UUID without building a lookup over the whole queue.
    public var byUUID: [ContainerUUID: QueueEntry]?

    public init(
        entries: [QueueEntry],
        updatedAt: Timestamp?,
        version: UInt64? = nil,
        byUUID: [ContainerUUID: QueueEntry]? = nil
    ) {
        self.entries = entries
        self.updatedAt = updatedAt
        self.version = version
        self.byUUID = byUUID
    }
}
