/// The queue's entries as a scheduling pass reads them: an array kept in chunks, so that a copy shares the chunks and
/// a change to one entry copies one chunk, not the whole queue.
///
/// The container queue keeps its entries in one of these and hands each pass the list as it stands; the pass
/// keeps it (its plan, the management API's queue, the decision journal's last pass) while the queue goes on
/// changing. With a plain array, the queue's first change after each pass copied every entry (at 100,000
/// containers, 300,000 references retained and later released, a sixth of the dispatcher's time); here it copies
/// the chunk it changes and the list of chunks.
///
/// A change costs a chunk's entries (three references each) and the list of chunks (one reference per chunk), so
/// chunks grow with the list: 32 entries at first, twice as many each time the list passes eight times as many
/// chunks as a chunk holds entries, up to 512 (a busy simulated week queues about a thousand containers, where
/// 128-entry chunks made copying chunks a twentieth of the run; at 100,000 entries they are 128 as before).
///
/// Indices are `0..<count`; reading an entry costs two array look-ups.
public struct QueueEntryList: RandomAccessCollection, MutableCollection, Sendable, ExpressibleByArrayLiteral {
    /// The smallest and largest ``shift``.
    static var minimumShift: Int { 5 }
    static var maximumShift: Int { 9 }

    /// Chunks hold `1 << shift` entries.
    @usableFromInline
    var shift: Int
    /// Every chunk full but the last, which is not empty.
    @usableFromInline
    var chunks: [[QueueEntry]]
    public private(set) var count: Int

    /// How many entries a chunk holds.
    var chunkCapacity: Int { 1 << self.shift }

    /// An empty list.
    public init() {
        self.chunks = []
        self.count = 0
        self.shift = Self.minimumShift
    }

    public init(_ entries: some Sequence<QueueEntry>) {
        self.init()
        for entry in entries { self.append(entry) }
    }

    public init(arrayLiteral elements: QueueEntry...) {
        self.init(elements)
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { self.count }

    @inlinable
    public subscript(position: Int) -> QueueEntry {
        // The inner array's bounds check catches a position past the end (the last chunk holds exactly the
        // remainder); a negative one fails the outer check.
        get { self.chunks[position &>> self.shift][position & ((1 &<< self.shift) &- 1)] }
        set { self.chunks[position &>> self.shift][position & ((1 &<< self.shift) &- 1)] = newValue }
    }

    /// Adds `entry` at the end.
    public mutating func append(_ entry: QueueEntry) {
        if self.count & (self.chunkCapacity - 1) == 0 && self.shift < Self.maximumShift
            && self.chunks.count >= 8 << self.shift
        {
            // Chunks twice as big once there are many (amortised: a regrouping copies the entries, and comes at four
            // times the count of the last).
            self.regroup()
        }
        if self.count & (self.chunkCapacity - 1) == 0 {
            var chunk: [QueueEntry] = []
            chunk.reserveCapacity(self.chunkCapacity)
            chunk.append(entry)
            self.chunks.append(chunk)
        } else {
            self.chunks[self.chunks.count - 1].append(entry)
        }
        self.count += 1
    }

    /// Puts the entries in chunks twice as big; the list's count is a multiple of the present chunk size.
    private mutating func regroup() {
        let capacity = self.chunkCapacity * 2
        var chunks: [[QueueEntry]] = []
        chunks.reserveCapacity(self.chunks.count / 2 + 1)
        for pair in stride(from: 0, to: self.chunks.count, by: 2) {
            var chunk: [QueueEntry] = []
            chunk.reserveCapacity(capacity)
            chunk.append(contentsOf: self.chunks[pair])
            if pair + 1 < self.chunks.count { chunk.append(contentsOf: self.chunks[pair + 1]) }
            chunks.append(chunk)
        }
        self.chunks = chunks
        self.shift += 1
    }

    /// Removes the last entry; the list must not be empty.
    public mutating func removeLast() {
        precondition(self.count > 0, "removeLast() on an empty QueueEntryList")
        if self.chunks[self.chunks.count - 1].count == 1 {
            self.chunks.removeLast()
        } else {
            self.chunks[self.chunks.count - 1].removeLast()
        }
        self.count -= 1
    }

    /// Removes the entry at `position` by moving the last entry into its place (the others keep theirs); returns
    /// the moved entry, or `nil` when `position` was the last.
    @discardableResult
    public mutating func removeMovingLast(at position: Int) -> QueueEntry? {
        precondition(position >= 0 && position < self.count, "position \(position) out of 0..<\(self.count)")
        let last = self.count - 1
        guard position != last else {
            self.removeLast()
            return nil
        }
        let moved = self[last]
        self[position] = moved
        self.removeLast()
        return moved
    }
}
