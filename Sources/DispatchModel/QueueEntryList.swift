/// The queue's entries as a scheduling pass reads them: an array kept in chunks of 128 entries, so that a copy
/// shares the chunks and a change to one entry copies one chunk, not the whole queue.
///
/// The container queue keeps its entries in one of these and hands each pass the list as it stands; the pass
/// keeps it (its plan, the management API's queue, the decision journal's last pass) while the queue goes on
/// changing. With a plain array, the queue's first change after each pass copied every entry (at 100,000
/// containers, 300,000 references retained and later released, a sixth of the dispatcher's time); here it copies
/// the chunk it changes and the list of chunks (one reference per 128 entries).
///
/// Indices are `0..<count`; reading an entry costs two array look-ups.
public struct QueueEntryList: RandomAccessCollection, MutableCollection, Sendable, ExpressibleByArrayLiteral {
    @usableFromInline
    static var shift: Int { 7 }
    @usableFromInline
    static var chunkCapacity: Int { 1 << Self.shift }
    @usableFromInline
    static var mask: Int { Self.chunkCapacity - 1 }

    /// Every chunk full but the last, which is not empty.
    @usableFromInline
    var chunks: [[QueueEntry]]
    public private(set) var count: Int

    /// An empty list.
    public init() {
        self.chunks = []
        self.count = 0
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
        get { self.chunks[position &>> Self.shift][position & Self.mask] }
        set { self.chunks[position &>> Self.shift][position & Self.mask] = newValue }
    }

    /// Adds `entry` at the end.
    public mutating func append(_ entry: QueueEntry) {
        if self.count & Self.mask == 0 {
            var chunk: [QueueEntry] = []
            chunk.reserveCapacity(Self.chunkCapacity)
            chunk.append(entry)
            self.chunks.append(chunk)
        } else {
            self.chunks[self.chunks.count - 1].append(entry)
        }
        self.count += 1
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
