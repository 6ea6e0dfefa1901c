import DispatchModel

/// The pool's runners matched to queue entries, with one hash lookup per entry.
struct RunnerMatch {
    /// The runner of each entry, by entry index.
    var runners: [PoolSnapshot.Runner?]
    /// Entry index of every container the pool knows (runner or on an instance); -1 if not in the queue.
    var entryIndex: [UUIDKey: Int]
    /// Runners whose container is not in the queue, in UUID order.
    var unmatched: [ContainerUUID]

    init(queue: QueueSnapshot, pool: PoolSnapshot) {
        self.runners = Array(repeating: nil, count: queue.entries.count)
        self.entryIndex = [:]
        self.unmatched = []
        guard !pool.runners.isEmpty || !pool.instances.isEmpty else { return }
        self.entryIndex.reserveCapacity(pool.runners.count)
        for uuid in pool.runners.keys { self.entryIndex[UUIDKey(uuid)] = -1 }
        for instance in pool.instances {
            for uuid in instance.runningContainers where self.entryIndex[UUIDKey(uuid)] == nil {
                self.entryIndex[UUIDKey(uuid)] = -1
            }
        }
        for i in queue.entries.indices {
            if let slot = self.entryIndex.index(forKey: UUIDKey(queue.entries[i].container.uuid)) {
                self.entryIndex.values[slot] = i
            }
        }
        for (uuid, runner) in pool.runners {
            let i = self.entryIndex[UUIDKey(uuid)] ?? -1
            if i >= 0 { self.runners[i] = runner } else { self.unmatched.append(uuid) }
        }
        self.unmatched.sort()
    }
}

/// A container UUID as a dictionary key that hashes only its last 16 bytes.
///
/// Arvados UUIDs share their first 12 characters (cluster and type infix) and differ in the random tail,
/// so hashing the tail is as selective as hashing the whole string and about twice as fast.
struct UUIDKey: Hashable {
    let uuid: ContainerUUID

    init(_ uuid: ContainerUUID) { self.uuid = uuid }

    func hash(into hasher: inout Hasher) {
        let utf8 = self.uuid.rawValue.utf8
        let fast = utf8.withContiguousStorageIfAvailable { bytes -> (UInt64, UInt64)? in
            guard bytes.count >= 16 else { return nil }
            let raw = UnsafeRawBufferPointer(bytes)
            return (
                raw.loadUnaligned(fromByteOffset: bytes.count - 16, as: UInt64.self),
                raw.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self)
            )
        }
        // The same two words, byte by byte, for short or non-contiguous strings.
        let (low, high) =
            (fast ?? nil)
            ?? utf8.suffix(16).enumerated().reduce(into: (UInt64(0), UInt64(0))) { words, element in
                let shift = UInt64(element.offset % 8) * 8
                if element.offset < 8 {
                    words.0 |= UInt64(element.element) << shift
                } else {
                    words.1 |= UInt64(element.element) << shift
                }
            }
        hasher.combine(low)
        hasher.combine(high)
        hasher.combine(utf8.count)
    }

    static func == (a: UUIDKey, b: UUIDKey) -> Bool { a.uuid == b.uuid }
}
