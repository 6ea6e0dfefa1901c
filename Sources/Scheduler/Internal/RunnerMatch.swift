import DispatchModel

/// The pool's runners matched to queue entries, with one cheap filter test per entry.
struct RunnerMatch {
    /// For each entry, the index of its runner in ``runnerList``, or -1.
    private var runnerOf: [Int32]
    private var runnerList: [PoolSnapshot.Runner] = []
    /// Entry index of every container the pool knows (runner or on an instance); -1 if not in the queue.
    private(set) var entryIndex: [UUIDKey: Int] = [:]
    /// Runners whose container is not in the queue, in UUID order.
    private(set) var unmatched: [ContainerUUID] = []

    init(queue: QueueSnapshot, pool: PoolSnapshot) {
        self.runnerOf = Array(repeating: -1, count: queue.entries.count)
        guard !pool.runners.isEmpty || !pool.instances.isEmpty else { return }
        self.entryIndex.reserveCapacity(pool.runners.count)
        for uuid in pool.runners.keys { self.entryIndex[UUIDKey(uuid)] = -1 }
        for instance in pool.instances {
            for uuid in instance.runningContainers where self.entryIndex[UUIDKey(uuid)] == nil {
                self.entryIndex[UUIDKey(uuid)] = -1
            }
        }
        // Most entries are not known to the pool: a bit per hashed tail rules them out without hashing.
        var filter = BitFilter(capacity: self.entryIndex.count)
        for key in self.entryIndex.keys { filter.insert(UUIDKey.tail(of: key.uuid)) }
        for i in queue.entries.indices {
            let uuid = queue.entries[i].container.uuid
            guard filter.mayContain(UUIDKey.tail(of: uuid)),
                let slot = self.entryIndex.index(forKey: UUIDKey(uuid))
            else { continue }
            self.entryIndex.values[slot] = i
        }
        self.runnerList.reserveCapacity(pool.runners.count)
        for (uuid, runner) in pool.runners {
            let i = self.entryIndex[UUIDKey(uuid)] ?? -1
            if i >= 0 {
                self.runnerOf[i] = Int32(self.runnerList.count)
                self.runnerList.append(runner)
            } else {
                self.unmatched.append(uuid)
            }
        }
        self.unmatched.sort()
    }

    /// The runner of the entry at `index`, if the pool has one.
    func runner(of index: Int) -> PoolSnapshot.Runner? {
        let slot = self.runnerOf[index]
        return slot < 0 ? nil : self.runnerList[Int(slot)]
    }

    /// Whether the pool has a runner for the entry at `index`.
    func hasRunner(_ index: Int) -> Bool { self.runnerOf[index] >= 0 }
}

/// A one-hash Bloom filter over UUID tails, sized at about 64 bits per element.
private struct BitFilter {
    private var words: [UInt64]
    private let shift: UInt64

    init(capacity: Int) {
        var bits = 64
        while bits < capacity * 64 && bits < 1 << 26 { bits <<= 1 }
        self.words = Array(repeating: 0, count: bits / 64)
        self.shift = UInt64(64 - bits.trailingZeroBitCount)
    }

    private func bit(_ tail: UUIDKey.Tail) -> Int {
        let mixed = (tail.low ^ (tail.high &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(tail.count)) &* 0xBF58_476D_1CE4_E5B9
        return Int(mixed >> self.shift)
    }

    mutating func insert(_ tail: UUIDKey.Tail) {
        let bit = self.bit(tail)
        self.words[bit >> 6] |= 1 << UInt64(bit & 63)
    }

    func mayContain(_ tail: UUIDKey.Tail) -> Bool {
        let bit = self.bit(tail)
        return self.words[bit >> 6] & (1 << UInt64(bit & 63)) != 0
    }
}

/// A container UUID as a dictionary key that hashes only its last 16 bytes.
///
/// Arvados UUIDs share their first 12 characters (cluster and type infix) and differ in the random tail,
/// so hashing the tail is as selective as hashing the whole string and about twice as fast.
struct UUIDKey: Hashable {
    /// The last 16 bytes of a UUID as two little-endian words (zero-padded), and its length.
    struct Tail {
        var low: UInt64
        var high: UInt64
        var count: Int
    }

    let uuid: ContainerUUID

    init(_ uuid: ContainerUUID) { self.uuid = uuid }

    static func tail(of uuid: ContainerUUID) -> Tail {
        let utf8 = uuid.rawValue.utf8
        let fast = utf8.withContiguousStorageIfAvailable { bytes -> Tail? in
            guard bytes.count >= 16 else { return nil }
            let raw = UnsafeRawBufferPointer(bytes)
            return Tail(
                low: raw.loadUnaligned(fromByteOffset: bytes.count - 16, as: UInt64.self),
                high: raw.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self),
                count: bytes.count
            )
        }
        if let fast = fast ?? nil { return fast }
        // The same words, byte by byte, for short or non-contiguous strings.
        var tail = Tail(low: 0, high: 0, count: utf8.count)
        for (offset, byte) in utf8.suffix(16).enumerated() {
            let shift = UInt64(offset % 8) * 8
            if offset < 8 { tail.low |= UInt64(byte) << shift } else { tail.high |= UInt64(byte) << shift }
        }
        return tail
    }

    func hash(into hasher: inout Hasher) {
        let tail = Self.tail(of: self.uuid)
        hasher.combine(tail.low)
        hasher.combine(tail.high)
        hasher.combine(tail.count)
    }

    static func == (a: UUIDKey, b: UUIDKey) -> Bool { a.uuid == b.uuid }
}
