import DispatchModel

/// The wait the journal last recorded for each waiting container, brought up to date once a pass, in the pass's
/// scheduling order, at a cost that grows with what changed rather than with the queue.
///
/// A pass's waiting containers come in nearly the order of the last pass's (priority, then first seen): a few
/// leave (started, locked, gone), a few arrive, a few move or change. The last pass's waiting entries are kept in
/// its order by record identity (``DispatchModel/QueueEntry/recordID``; the last pass's entries are kept alive, so
/// an identity cannot be reused meanwhile), and each of this pass's is first compared with the next of those: an
/// unchanged entry in place costs one comparison of two words, without reading its record. Only one that does not
/// match there is looked up by UUID. At 100,000 waiting containers a look-up for each, every pass, took a fifth of
/// the dispatcher's time.
///
/// Each pass: ``beginPass(_:)`` with the pass's entries, ``note(_:_:)`` for every waiting one in order, then
/// ``endPass()``.
struct JournalledWaits {
    typealias Kind = ScheduledQueue.Code.Kind

    /// The journalled wait of every container that waited in the last pass (and those noted so far in this one).
    private var table: [ContainerUUID: Kind] = [:]
    /// The last pass's entries (kept alive for their record identities) and its waiting ones, in its order: their
    /// record identities, indices and journalled waits.
    private var previousEntries = QueueEntryList()
    private var previous: [ObjectIdentifier] = []
    private var previousIndices: [Int32] = []
    private var previousKinds: [Kind] = []
    /// The next of ``previous`` to compare with.
    private var cursor = 0
    /// This pass's entries and its waiting ones so far.
    private var entries = QueueEntryList()
    private var current: [ObjectIdentifier] = []
    private var currentIndices: [Int32] = []
    private var currentKinds: [Kind] = []
    /// Positions in ``previous`` passed over without a match: they no longer wait, unless they moved.
    private var skipped: [Int] = []
    /// This pass's containers found by UUID away from the cursor: they still wait.
    private var moved: Set<ContainerUUID> = []

    /// How far ahead of the cursor a container found by UUID is looked for, to skip those that left in between.
    static let lookahead = 64

    /// How many containers waited in the last completed pass.
    var count: Int { self.table.count }

    /// The wait journalled for a container, if it waited in the last pass.
    func kind(of uuid: ContainerUUID) -> Kind? { self.table[uuid] }

    /// Starts a pass over `entries`, which ``note(_:_:)`` indexes.
    mutating func beginPass(_ entries: QueueEntryList) {
        self.entries = entries
    }

    /// Notes that the entry at `index` waits for `kind` in this pass, in the pass's order; returns whether that is
    /// a new wait to journal (it did not wait in the last pass, or waited for another reason).
    mutating func note(_ index: Int, _ kind: Kind) -> Bool {
        let id = self.entries[index].recordID
        self.current.append(id)
        self.currentIndices.append(Int32(truncatingIfNeeded: index))
        self.currentKinds.append(kind)
        let before: Kind?
        if self.cursor < self.previous.count && self.previous[self.cursor] == id {
            // Unchanged, in place: the common case, decided without reading the record.
            before = self.previousKinds[self.cursor]
            self.cursor += 1
        } else {
            let uuid = self.entries[index].uuid
            if self.cursor < self.previous.count && self.previousUUID(self.cursor) == uuid {
                // In place, with a changed record.
                before = self.previousKinds[self.cursor]
                self.cursor += 1
            } else if let known = self.table[uuid] {
                before = known
                let end = min(self.previous.count, self.cursor + Self.lookahead)
                var found: Int?
                var k = self.cursor + 1
                while k < end {
                    if self.previous[k] == id {
                        found = k
                        break
                    }
                    k += 1
                }
                if let found {
                    // Those in between left, or moved and will be found by UUID.
                    self.skipped.append(contentsOf: self.cursor..<found)
                    self.cursor = found + 1
                } else {
                    self.moved.insert(uuid)
                }
            } else {
                before = nil
            }
        }
        guard before != kind else { return false }
        self.table[self.entries[index].uuid] = kind
        return true
    }

    /// Forgets the containers of the last pass that this one did not note, and makes this pass the last.
    mutating func endPass() {
        if self.cursor < self.previous.count {
            self.skipped.append(contentsOf: self.cursor..<self.previous.count)
        }
        for position in self.skipped {
            let uuid = self.previousUUID(position)
            if !self.moved.contains(uuid) { self.table[uuid] = nil }
        }
        swap(&self.previousEntries, &self.entries)
        swap(&self.previous, &self.current)
        swap(&self.previousIndices, &self.currentIndices)
        swap(&self.previousKinds, &self.currentKinds)
        self.entries = QueueEntryList()
        self.current.removeAll(keepingCapacity: true)
        self.currentIndices.removeAll(keepingCapacity: true)
        self.currentKinds.removeAll(keepingCapacity: true)
        self.skipped.removeAll(keepingCapacity: true)
        if !self.moved.isEmpty { self.moved.removeAll() }
        self.cursor = 0
        assert(self.table.count == self.previous.count)
    }

    private func previousUUID(_ position: Int) -> ContainerUUID {
        self.previousEntries[Int(self.previousIndices[position])].uuid
    }
}
