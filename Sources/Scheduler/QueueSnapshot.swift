public import DispatchModel

/// The container queue as one planning pass sees it: every cached entry and when the cache was refreshed.
///
/// The queue owns the cache; the planner only reads this copy, so a pass is a pure function of its inputs.
public struct QueueSnapshot: Sendable {
    /// Every cached entry, in no particular order; container UUIDs are unique.
    public var entries: QueueEntryList
    /// When the last successful queue update *started* (Arvados's `qUpdated`), or `nil` before the first.
    ///
    /// The reconciliation acts on a runner's exit only once a queue update that started after the exit
    /// has completed, so a container that finalized itself is not wrongly cancelled or requeued.
    public var updatedAt: Timestamp?
    /// Identifies ``entries``: two snapshots from one queue with the same non-nil version hold the same entries
    /// in the same order (the scheduling loop then skips planning again what it has just planned).
    public var version: UInt64?

    public init(entries: QueueEntryList, updatedAt: Timestamp?, version: UInt64? = nil) {
        self.entries = entries
        self.updatedAt = updatedAt
        self.version = version
    }

    public init(entries: [QueueEntry], updatedAt: Timestamp?, version: UInt64? = nil) {
        self.init(entries: QueueEntryList(entries), updatedAt: updatedAt, version: version)
    }
}

extension QueueSnapshot {
    /// Which of `uuids` are in the snapshot.
    ///
    /// One cheap filter test per entry (the UUIDs' hashed tails), and a set look-up only for those it lets
    /// through: at 100,000 entries a few tenths of a millisecond, against several milliseconds to index them all.
    func present(_ uuids: Set<ContainerUUID>) -> Set<ContainerUUID> {
        guard !uuids.isEmpty else { return [] }
        var filter = BitFilter(capacity: uuids.count)
        for uuid in uuids { filter.insert(uuid.digest) }
        var found: Set<ContainerUUID> = []
        for i in self.entries.indices where filter.mayContain(self.entries[i].summary.uuidDigest) {
            let uuid = self.entries[i].uuid
            if uuids.contains(uuid) { found.insert(uuid) }
        }
        return found
    }
}
