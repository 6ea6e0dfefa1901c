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
        for key in self.entryIndex.keys { filter.insert(key.uuid.digest) }
        for i in queue.entries.indices where filter.mayContain(queue.entries[i].summary.uuidDigest) {
            guard let slot = self.entryIndex.index(forKey: UUIDKey(queue.entries[i].container.uuid)) else { continue }
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

/// A one-hash Bloom filter over UUID digests (``DispatchModel/ContainerUUID/digest``), sized at about 64 bits per
/// element.
struct BitFilter {
    private var words: [UInt64]
    private let shift: UInt64

    init(capacity: Int) {
        var bits = 64
        while bits < capacity * 64 && bits < 1 << 26 { bits <<= 1 }
        self.words = Array(repeating: 0, count: bits / 64)
        self.shift = UInt64(64 - bits.trailingZeroBitCount)
    }

    private func bit(_ digest: UInt64) -> Int { Int(digest >> self.shift) }

    mutating func insert(_ digest: UInt64) {
        let bit = self.bit(digest)
        self.words[bit >> 6] |= 1 << UInt64(bit & 63)
    }

    func mayContain(_ digest: UInt64) -> Bool {
        let bit = self.bit(digest)
        return self.words[bit >> 6] & (1 << UInt64(bit & 63)) != 0
    }
}

/// A container UUID as a dictionary key that hashes only its digest (its last 16 bytes and length).
///
/// Arvados UUIDs share their first 12 characters (cluster and type infix) and differ in the random tail,
/// so hashing the tail is as selective as hashing the whole string and about twice as fast.
struct UUIDKey: Hashable {
    let uuid: ContainerUUID

    init(_ uuid: ContainerUUID) { self.uuid = uuid }

    func hash(into hasher: inout Hasher) { hasher.combine(self.uuid.digest) }

    static func == (a: UUIDKey, b: UUIDKey) -> Bool { a.uuid == b.uuid }
}
