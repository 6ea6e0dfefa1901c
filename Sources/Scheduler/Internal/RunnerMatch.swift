import DispatchModel

/// The pool's runners matched to queue entries, with one cheap filter test per entry.
struct RunnerMatch {
    /// A container the pool knows (a runner, or on an instance): its queue entry and its runner.
    struct Known: Sendable {
        /// Its entry's index in the queue, or -1 if it is not in the queue.
        var entry: Int32
        /// Its runner's index in ``PoolPart/runners``, or -1 if only an instance lists it.
        var runner: Int32
    }

    /// What the match reads from the pool alone, the same for every pass over one layout of the pool
    /// (``PoolSnapshot/layoutVersion``): a pass after a change of the queue only (about half of a busy cluster's),
    /// or of the pool that named no container anew (a worker booted, a runner exited), matches the queue to it
    /// instead of reading every runner and instance again; only the runners' states are read again
    /// (``refreshed(from:)``).
    struct PoolPart: Sendable {
        /// The pool version it was read from.
        var version: UInt64
        /// The pool layout it was read from.
        var layoutVersion: UInt64
        /// The pool's runners, in the order of its runner table's keys.
        var runners: [PoolSnapshot.Runner]
        /// Every container the pool knows (runner or on an instance), with its runner; no entries yet.
        var known: UUIDTable<Known>
        /// The position in ``known`` of each container on each instance, in the pool's order (instance by
        /// instance, each instance's containers in order), so the placement index finds their entries without
        /// looking them up again (``RunnerMatch/entry(ofInstanceContainer:)``).
        var instanceContainers: [Int32]
        /// The containers of ``instanceContainers``, element for element: read in order when the placement index
        /// compares two reads of the pool, where looking each up in ``known`` missed the cache for most (a quarter of
        /// patching the index).
        var instanceContainerUUIDs: [ContainerUUID]
        /// How many of ``runners`` are finishing: ``PoolSnapshot/activeRunnerCount`` without another walk of the table.
        var finishingRunners: Int

        /// The runners that count against the container limit (``PoolSnapshot/activeRunnerCount``).
        var activeRunnerCount: Int { self.runners.count - self.finishingRunners }

        init(pool: PoolSnapshot) {
            self.version = pool.version ?? 0
            self.layoutVersion = pool.layoutVersion ?? 0
            self.runners = []
            self.runners.reserveCapacity(pool.runners.count)
            self.known = UUIDTable(capacity: pool.runners.count + pool.instances.count)
            self.instanceContainers = []
            // One walk of the runner table for its keys and values both (a dictionary's keys are distinct, so each
            // is added without looking for it first).
            self.finishingRunners = 0
            for (uuid, runner) in pool.runners {
                self.known.insertNew(uuid, Known(entry: -1, runner: Int32(self.runners.count)))
                self.runners.append(runner)
                if runner.finishing { self.finishingRunners += 1 }
            }
            self.instanceContainers.reserveCapacity(self.known.count)
            self.instanceContainerUUIDs = []
            self.instanceContainerUUIDs.reserveCapacity(self.known.count)
            for instance in pool.instances.indices {
                let count = pool.instances[instance].containerCount
                if count == 0 { continue }
                if count == 1, let uuid = pool.instances[instance].firstContainer {
                    // Most instances: their one container is in the snapshot itself.
                    self.instanceContainers.append(Int32(self.known.insert(uuid, Known(entry: -1, runner: -1))))
                    self.instanceContainerUUIDs.append(uuid)
                    continue
                }
                // Through the array's storage: each UUID borrowed in place rather than copied (a reference count up
                // and down per container, a fifth of reading the pool).
                pool.instances[instance].runningContainers.withUnsafeBufferPointer { uuids in
                    for k in uuids.indices {
                        self.instanceContainers.append(Int32(self.known.insert(uuids[k], Known(entry: -1, runner: -1))))
                        self.instanceContainerUUIDs.append(uuids[k])
                    }
                }
            }
        }

        /// The `n`th container on the pool's instances (counting as ``RunnerMatch/entry(ofInstanceContainer:)`` does).
        func container(ofInstanceContainer n: Int) -> ContainerUUID {
            self.instanceContainerUUIDs[n]
        }

        /// This read brought up to `pool`, a later snapshot with the same layout: its version and its runners' states
        /// (the same runners, in the same order, so only their values are copied).
        func refreshed(from pool: PoolSnapshot) -> PoolPart {
            var part = self
            part.version = pool.version ?? 0
            part.runners.removeAll(keepingCapacity: true)
            part.finishingRunners = 0
            for runner in pool.runners.values {
                part.runners.append(runner)
                if runner.finishing { part.finishingRunners += 1 }
            }
            return part
        }
    }

    /// Whether two reads of the pool found the same (debug builds check a reused read against a fresh one).
    static func sameRead(_ a: PoolPart, _ b: PoolPart) -> Bool {
        a.version == b.version && a.layoutVersion == b.layoutVersion && a.runners == b.runners
            && a.finishingRunners == b.finishingRunners
            && a.instanceContainers == b.instanceContainers && a.instanceContainerUUIDs == b.instanceContainerUUIDs
            && a.known.keys == b.known.keys
            && zip(a.known.values, b.known.values).allSatisfy { $0.entry == $1.entry && $0.runner == $1.runner }
    }

    /// What was read from the pool, with each known container's entry filled in.
    private var pool: PoolPart
    /// What was read from the pool, without the entries: for the next pass over the same pool.
    let poolPart: PoolPart
    /// For each entry, the index of its runner in the pool part's runners, or -1.
    private var runnerOf: [Int32]
    /// Runners whose container is not in the queue, in UUID order.
    private(set) var unmatched: [ContainerUUID] = []
    /// The positions in the pool part's known containers of the runners this pass frees (``init(queue:pool:reusing:freeing:)``).
    private var freedSlots: [Int32] = []

    /// Matches `queue` to `pool`; `part`, when given, is what an earlier match read from this very pool snapshot
    /// (the same version, unchanged since). The containers of `freeing`, runners the pass frees, no longer count
    /// on their instances (``isFreed(instanceContainer:)``).
    init(queue: QueueSnapshot, pool: PoolSnapshot, reusing part: PoolPart? = nil, freeing: [ContainerUUID] = []) {
        self.runnerOf = Array(repeating: -1, count: queue.entries.count)
        assert(part.map { Self.sameRead($0, PoolPart(pool: pool)) } ?? true, "a pool read reused for another pool")
        self.poolPart = part ?? PoolPart(pool: pool)
        self.pool = self.poolPart
        guard self.pool.known.count > 0 else { return }
        for uuid in freeing {
            if let slot = self.pool.known.index(of: uuid, digest: uuid.digest) { self.freedSlots.append(Int32(slot)) }
        }
        // One look-up per entry, recording both sides at once.
        for i in queue.entries.indices {
            let digest = queue.entries[i].summary.uuidDigest
            guard let slot = self.pool.known.index(of: queue.entries[i].uuid, digest: digest) else { continue }
            let previous = self.pool.known.values[slot].entry
            self.pool.known.values[slot].entry = Int32(i)
            let runner = self.pool.known.values[slot].runner
            guard runner >= 0 else { continue }
            if previous >= 0 {
                // The same container twice in the queue (not expected): its runner goes with the last.
                self.runnerOf[Int(previous)] = -1
            }
            self.runnerOf[i] = runner
        }
        for slot in self.pool.known.values.indices
        where self.pool.known.values[slot].runner >= 0 && self.pool.known.values[slot].entry < 0 {
            self.unmatched.append(self.pool.known.keys[slot])
        }
        self.unmatched.sort()
    }

    /// The queue entry of the `n`th container on the pool's instances (counting instance by instance, in the
    /// snapshot's order), if it is in the queue.
    func entry(ofInstanceContainer n: Int) -> Int? {
        let entry = self.pool.known.values[Int(self.pool.instanceContainers[n])].entry
        return entry < 0 ? nil : Int(entry)
    }

    /// How many containers the pool's instances list, all together.
    var instanceContainerCount: Int { self.pool.instanceContainers.count }

    /// Whether the `n`th container on the pool's instances (counting as ``entry(ofInstanceContainer:)`` does) is one
    /// whose runner the pass frees.
    func isFreed(instanceContainer n: Int) -> Bool {
        !self.freedSlots.isEmpty && self.freedSlots.contains(self.pool.instanceContainers[n])
    }

    /// The runner of the entry at `index`, if the pool has one.
    func runner(of index: Int) -> PoolSnapshot.Runner? {
        let slot = self.runnerOf[index]
        return slot < 0 ? nil : self.pool.runners[Int(slot)]
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

/// Container UUIDs with a value each, found by their digests (``DispatchModel/ContainerUUID/digest``) without
/// hashing the strings: open addressing with linear probing, kept at most a quarter full, so a look-up of a UUID
/// that is not there nearly always ends at its first slot. Keys keep the order they were added in.
///
/// Arvados UUIDs share their first 12 characters (cluster and type infix) and differ in the random tail, so the
/// digest of the tail is as selective as a hash of the whole string, and a pass that already holds the digests
/// (``DispatchModel/QueueEntry/Summary/uuidDigest``) computes nothing for its look-ups.
///
/// A slot is one word, the key's position and the top half of its digest together, so a probe reads one cache line
/// (with the position and the digest in two arrays, a look-up missed the cache twice: a sixth of reading the pool).
struct UUIDTable<Value> {
    private(set) var keys: [ContainerUUID] = []
    /// The value of each key, by the key's position in ``keys``.
    var values: [Value] = []
    /// Each slot: 0 when empty, else the top 32 bits of its key's digest over the key's position + 1.
    private var slots: [UInt64]

    /// An empty table with room for `capacity` keys before it grows.
    init(capacity: Int) {
        var size = 16
        while size < capacity * 4 && size < 1 << 30 { size <<= 1 }
        self.slots = Array(repeating: 0, count: size)
        self.keys.reserveCapacity(capacity)
        self.values.reserveCapacity(capacity)
    }

    var count: Int { self.keys.count }

    /// The part of a slot that comes from the digest.
    private static func tag(_ digest: UInt64) -> UInt64 { digest & 0xFFFF_FFFF_0000_0000 }

    /// The position in ``keys`` of `uuid`, whose digest is `digest`, if the table has it.
    func index(of uuid: ContainerUUID, digest: UInt64) -> Int? {
        let mask = self.slots.count - 1
        let tag = Self.tag(digest)
        var slot = Int(truncatingIfNeeded: digest) & mask
        while true {
            let stored = self.slots[slot]
            if stored == 0 { return nil }
            if stored & 0xFFFF_FFFF_0000_0000 == tag {
                let position = Int(stored & 0xFFFF_FFFF) - 1
                if self.keys[position] == uuid { return position }
            }
            slot = (slot + 1) & mask
        }
    }

    /// Adds `uuid` with `value` unless the table has it already (then its value stays); returns its position in
    /// ``keys``.
    @discardableResult
    mutating func insert(_ uuid: ContainerUUID, _ value: Value) -> Int {
        let digest = uuid.digest
        if let position = self.index(of: uuid, digest: digest) { return position }
        self.append(uuid, value, digest: digest)
        return self.keys.count - 1
    }

    /// Adds `uuid`, which the table does not have, with `value`.
    mutating func insertNew(_ uuid: ContainerUUID, _ value: Value) {
        let digest = uuid.digest
        assert(self.index(of: uuid, digest: digest) == nil, "insertNew of a UUID the table has")
        self.append(uuid, value, digest: digest)
    }

    private mutating func append(_ uuid: ContainerUUID, _ value: Value, digest: UInt64) {
        // A quarter full at most (and positions fit the slot's 32 bits: the table stops at 2^30 slots first).
        precondition(self.keys.count < Int(UInt32.max) - 1, "UUIDTable full")
        if (self.keys.count + 1) * 4 > self.slots.count { self.grow() }
        self.keys.append(uuid)
        self.values.append(value)
        self.place(self.keys.count - 1, digest: digest)
    }

    private mutating func place(_ position: Int, digest: UInt64) {
        let mask = self.slots.count - 1
        var slot = Int(truncatingIfNeeded: digest) & mask
        while self.slots[slot] != 0 { slot = (slot + 1) & mask }
        self.slots[slot] = Self.tag(digest) | UInt64(position + 1)
    }

    private mutating func grow() {
        let size = self.slots.count * 2
        self.slots = Array(repeating: 0, count: size)
        for position in self.keys.indices { self.place(position, digest: self.keys[position].digest) }
    }
}

extension UUIDTable: Sendable where Value: Sendable {}
