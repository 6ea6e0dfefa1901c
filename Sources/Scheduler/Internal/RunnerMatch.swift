import DispatchModel

/// The pool's runners matched to queue entries, with one cheap filter test per entry.
struct RunnerMatch {
    /// A container the pool knows (a runner, or on an instance): its queue entry and its runner.
    struct Known {
        /// Its entry's index in the queue, or -1 if it is not in the queue.
        var entry: Int32
        /// Its runner's index in the pool's runners as read, or -1 if only an instance lists it.
        var runner: Int32
    }

    /// For each entry, the index of its runner in ``runnerList``, or -1.
    private var runnerOf: [Int32]
    private var runnerList: [PoolSnapshot.Runner] = []
    /// Every container the pool knows (runner or on an instance), with its entry and runner.
    private(set) var known: [UUIDKey: Known] = [:]
    /// Runners whose container is not in the queue, in UUID order.
    private(set) var unmatched: [ContainerUUID] = []

    init(queue: QueueSnapshot, pool: PoolSnapshot) {
        self.runnerOf = Array(repeating: -1, count: queue.entries.count)
        guard !pool.runners.isEmpty || !pool.instances.isEmpty else { return }
        // One look-up per runner and per entry the filter lets through, each recording both sides at once.
        let runners = Array(pool.runners.values)
        self.known.reserveCapacity(pool.runners.count)
        for (position, uuid) in pool.runners.keys.enumerated() {
            self.known[UUIDKey(uuid)] = Known(entry: -1, runner: Int32(position))
        }
        for instance in pool.instances {
            for uuid in instance.runningContainers where self.known.index(forKey: UUIDKey(uuid)) == nil {
                self.known[UUIDKey(uuid)] = Known(entry: -1, runner: -1)
            }
        }
        // Most entries are not known to the pool: a bit per hashed tail rules them out without hashing.
        var filter = BitFilter(capacity: self.known.count)
        for key in self.known.keys { filter.insert(key.uuid.digest) }
        self.runnerList.reserveCapacity(pool.runners.count)
        for i in queue.entries.indices where filter.mayContain(queue.entries[i].summary.uuidDigest) {
            guard let slot = self.known.index(forKey: UUIDKey(queue.entries[i].container.uuid)) else { continue }
            let previous = self.known.values[slot].entry
            self.known.values[slot].entry = Int32(i)
            let runner = self.known.values[slot].runner
            guard runner >= 0 else { continue }
            if previous >= 0 {
                // The same container twice in the queue (not expected): its runner goes with the last.
                self.runnerOf[i] = self.runnerOf[Int(previous)]
                self.runnerOf[Int(previous)] = -1
            } else {
                self.runnerOf[i] = Int32(self.runnerList.count)
                self.runnerList.append(runners[Int(runner)])
            }
        }
        for (key, known) in self.known where known.runner >= 0 && known.entry < 0 {
            self.unmatched.append(key.uuid)
        }
        self.unmatched.sort()
    }

    /// The queue entry of a container the pool knows, if it is in the queue.
    func entry(of uuid: ContainerUUID) -> Int? {
        guard let known = self.known[UUIDKey(uuid)], known.entry >= 0 else { return nil }
        return Int(known.entry)
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
