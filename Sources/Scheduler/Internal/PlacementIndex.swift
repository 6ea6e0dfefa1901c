import DispatchModel

/// The instances of one planning pass, indexed for placement.
///
/// Instances are grouped by type, then into buckets by *level*: `containers × 2 + (ready ? 1 : 0)`, so a
/// higher level is a busier instance, and at equal load a ready (idle or running) one beats a booting one.
/// Within a bucket, instances keep Arvados's order (in-flight creates first, newest first, then by ID).
/// A bitmask per type tells which levels are non-empty, so finding the best instance for a container
/// visits only non-empty buckets of its eligible types, busiest first, and stops at the first level with
/// a fit.
///
/// An instance that can take nothing more (no VCPU left, at `MaxRunningContainersPerInstance`, on hold,
/// draining, shutting down) is not in any bucket. Each bucket remembers the last few needs that found no
/// fit; a need at least as big in every dimension skips the scan, and an instance joining the bucket drops
/// only the remembered needs it fits. So a long queue of containers that do not fit costs O(1) per bucket.
struct PlacementIndex {
    /// One instance (or in-flight or planned create) during the pass.
    /// (Its instance's ID is apart, in ``ids``: without it a slot holds no reference, so copying the slots for a
    /// pass, and freeing them after, touches no reference count.)
    struct Slot {
        var typeIndex: Int
        /// Position within the type: negative for creates (newest lowest), then by ID.
        var order: Int
        var remaining: InstanceResources
        /// Containers on it, real and tentatively allocated this pass.
        var containers: Int
        var ready: Bool
        /// Whether its state and idle behaviour let it take new containers.
        var acceptsContainers: Bool
        var state: WorkerState
        var idleBehavior: IdleBehavior
        /// The bucket it is in, if any.
        var level: Int?
    }

    struct Bucket {
        /// Slot indices, sorted by ``Slot/order`` descending, so the first in Arvados's order is last and
        /// a new create (the lowest order) is appended.
        var slots: [Int] = []
        /// Recent needs that fit no slot here. A joining slot drops the ones it fits.
        var failedNeeds: [InstanceResources] = []
    }

    struct TypeEntry {
        var type: InstanceType
        /// ``type``'s capacity, read once.
        var capacity: InstanceResources
        var atCapacity: Bool
        var buckets: [Bucket] = []
        /// Bit `l % 64` of word `l / 64` is set when bucket `l` is non-empty.
        var nonEmpty: [UInt64] = []
        /// Recent needs that fit no slot of this type at any level. A joining slot drops the ones it fits.
        var failedNeeds: [InstanceResources] = []
    }

    private(set) var slots: [Slot] = []
    /// The IDs of the instances the index was built from, by slot (`nil` for a create in flight); the slots past
    /// them, the pass's planned creates, have none.
    private var ids: [InstanceID?] = []
    private(set) var types: [TypeEntry] = []
    private var typeIndexByName: [InstanceTypeName: Int] = [:]
    private let maxContainersPerInstance: Int
    private var nextCreateOrder = -1

    /// Builds the index from the pool's instances; `match`, made from the same instances, finds the queue entries
    /// of the containers on them (an instance running a container not in the queue is assumed full).
    init(
        instances: [InstanceSnapshot],
        entries: QueueEntryList,
        match: RunnerMatch,
        maxContainersPerInstance: Int,
        isAtCapacity: (InstanceType) -> Bool
    ) {
        self.maxContainersPerInstance = maxContainersPerInstance
        var pendingCount = 0
        // The match's count of the containers on the instances before this one.
        var instanceContainer = 0
        // Slots of pending creates, in the order given (their orders are -1, -2, …), and of existing instances.
        var pending: [Int] = []
        var existing: [Int] = []
        existing.reserveCapacity(instances.count)
        // Room for the pass's creates too: a first create appending past the capacity would copy every slot.
        self.slots.reserveCapacity(instances.count + min(entries.count, Self.createsReserved))
        self.ids.reserveCapacity(instances.count)
        for index in instances.indices {
            // The type read in place: a copy of it (names, GPU details) for every instance cost more than the rest.
            let typeIndex =
                self.typeIndex(named: instances[index].type.name)
                ?? self.register(instances[index].type, atCapacity: isAtCapacity(instances[index].type))
            let id = instances[index].id
            self.ids.append(id)
            if id == nil {
                pendingCount += 1
                pending.append(self.slots.count)
            } else {
                existing.append(self.slots.count)
            }
            self.slots.append(
                self.slot(
                    of: instances,
                    at: index,
                    typeIndex: typeIndex,
                    firstContainer: instanceContainer,
                    entries: entries,
                    match: match,
                    order: id == nil ? -pendingCount : 0
                )
            )
            instanceContainer += instances[index].containerCount
        }
        self.nextCreateOrder = -pendingCount - 1
        // Existing instances are ordered by ID within their type. The pool lists its workers in ID order, so
        // grouping them by type, keeping their order, is enough (no string comparisons); any other order is sorted.
        let inIDOrder = existing.indices.dropFirst().allSatisfy { position in
            self.ids[existing[position - 1]]!.rawValue < self.ids[existing[position]]!.rawValue
        }
        if inIDOrder {
            var byType = Array(repeating: [Int](), count: self.types.count)
            for slot in existing { byType[self.slots[slot].typeIndex].append(slot) }
            existing = byType.flatMap { $0 }
        } else {
            existing.sort { a, b in
                let sa = self.slots[a]
                let sb = self.slots[b]
                if sa.typeIndex != sb.typeIndex { return sa.typeIndex < sb.typeIndex }
                return self.ids[a]!.rawValue < self.ids[b]!.rawValue
            }
        }
        for (position, slot) in existing.enumerated() { self.slots[slot].order = position }
        // Insert from the highest order down (existing instances last to first, then creates from -1 down), so
        // each insertion is an append (and no bucket has failed needs yet).
        for slot in existing.reversed() { self.insertIfUseful(slot, building: true) }
        for slot in pending { self.insertIfUseful(slot, building: true) }
    }

    /// An index as built for one pass, before the pass placed anything, with what it was built from: the next pass
    /// over the same instances starts from it (``built(instances:entries:match:maxContainersPerInstance:isAtCapacity:reusing:)``).
    ///
    /// It keeps no reference to the pool's instances: holding the snapshot's array past the pass would make the pool
    /// copy it whole at its next change. The instances' IDs are the index's own, their types, states and idle
    /// behaviours are in its slots, and their containers in the match's read of the pool.
    struct Base {
        /// The index before the pass placed anything.
        private(set) var index: PlacementIndex
        /// The match's read of the pool: the containers on the instances.
        fileprivate var part: RunnerMatch.PoolPart
        /// How many containers each instance listed.
        fileprivate var containerCounts: [Int32]
        /// The standing of each container on the instances, as ``standings(of:)`` gives it.
        fileprivate var standings: [UInt8]
        /// Whether it was brought from the last pass's rather than built afresh.
        private(set) var patched = false
    }

    /// The index for a pass over `instances`, starting from `base` when that was built for the same instances (the
    /// same IDs and types, in the same order): then only the slots of the instances whose state, idle behaviour or
    /// containers changed, or whose containers' standing did (one left the queue, or its runner is freed), are
    /// computed again, instead of every instance's (at a thousand instances, a tenth of a pass).
    ///
    /// A container's resources are read from its entry once it is there, and never again while it stays: they do
    /// not change (Arvados accepts `runtime_constraints` only when a container is created).
    static func built(
        instances: [InstanceSnapshot],
        entries: QueueEntryList,
        match: RunnerMatch,
        maxContainersPerInstance: Int,
        isAtCapacity: (InstanceType) -> Bool,
        reusing base: Base?
    ) -> Base {
        let standings = Self.standings(of: match)
        var counts = [Int32](repeating: 0, count: instances.count)
        for i in instances.indices { counts[i] = Int32(clamping: instances[i].containerCount) }
        func fresh() -> PlacementIndex {
            PlacementIndex(
                instances: instances,
                entries: entries,
                match: match,
                maxContainersPerInstance: maxContainersPerInstance,
                isAtCapacity: isAtCapacity
            )
        }
        let patched = base.flatMap { base in
            base.index.patched(
                from: base,
                to: instances,
                standings: standings,
                entries: entries,
                match: match,
                maxContainersPerInstance: maxContainersPerInstance,
                isAtCapacity: isAtCapacity
            )
        }
        assert(
            patched.map { $0.sameContent(as: fresh()) } ?? true,
            "a patched placement index differs from a fresh one"
        )
        return Base(
            index: patched ?? fresh(),
            part: match.poolPart,
            containerCounts: counts,
            standings: standings,
            patched: patched != nil
        )
    }

    /// What decides how each container on the pool's instances counts on its slot: 2 when its runner is freed by the
    /// pass, else 1 when it is in the queue, 0 when it is not (its instance is then taken as full).
    private static func standings(of match: RunnerMatch) -> [UInt8] {
        var standings = [UInt8](repeating: 0, count: match.instanceContainerCount)
        for n in standings.indices {
            if match.isFreed(instanceContainer: n) {
                standings[n] = 2
            } else if match.entry(ofInstanceContainer: n) != nil {
                standings[n] = 1
            }
        }
        return standings
    }

    /// This index, built for `base`'s instances, brought to `instances`; `nil` when they are not the same instances
    /// or the settings differ.
    private func patched(
        from base: Base,
        to instances: [InstanceSnapshot],
        standings: [UInt8],
        entries: QueueEntryList,
        match: RunnerMatch,
        maxContainersPerInstance: Int,
        isAtCapacity: (InstanceType) -> Bool
    ) -> PlacementIndex? {
        guard maxContainersPerInstance == self.maxContainersPerInstance, self.ids.count == instances.count,
            base.containerCounts.count == instances.count
        else { return nil }
        for t in self.types.indices where self.types[t].atCapacity != isAtCapacity(self.types[t].type) { return nil }
        let part = match.poolPart
        var index = self
        // Where the instance's containers start in the new standings and in the old.
        var first = 0
        var oldFirst = 0
        for i in instances.indices {
            // `self` is the index as built for `base`: its slot `i` is instance `i` as it was.
            let old = self.slots[i]
            guard self.ids[i] == instances[i].id, self.types[old.typeIndex].type.name == instances[i].type.name else {
                return nil
            }
            let count = instances[i].containerCount
            let oldCount = Int(base.containerCounts[i])
            defer {
                first += count
                oldFirst += oldCount
            }
            var changed =
                old.state != instances[i].state || old.idleBehavior != instances[i].idleBehavior || oldCount != count
            if !changed {
                for n in 0..<count
                where base.standings[oldFirst + n] != standings[first + n]
                    || base.part.container(ofInstanceContainer: oldFirst + n)
                        != part.container(ofInstanceContainer: first + n)
                {
                    changed = true
                    break
                }
            }
            if changed {
                let slot = index.slot(
                    of: instances,
                    at: i,
                    typeIndex: old.typeIndex,
                    firstContainer: first,
                    entries: entries,
                    match: match,
                    order: old.order
                )
                index.remove(i)
                index.slots[i] = slot
                index.insertIfUseful(i)
            }
        }
        return index
    }

    /// Whether two indexes hold the same slots, in the same buckets in the same order (debug builds check a patched
    /// index against a fresh one).
    func sameContent(as other: PlacementIndex) -> Bool {
        guard self.slots.count == other.slots.count, self.ids == other.ids, self.types.count == other.types.count,
            self.nextCreateOrder == other.nextCreateOrder,
            self.maxContainersPerInstance == other.maxContainersPerInstance
        else { return false }
        for (a, b) in zip(self.slots, other.slots) {
            guard a.typeIndex == b.typeIndex, a.order == b.order, a.remaining == b.remaining,
                a.containers == b.containers, a.ready == b.ready, a.acceptsContainers == b.acceptsContainers,
                a.state == b.state, a.idleBehavior == b.idleBehavior, a.level == b.level
            else { return false }
        }
        for (a, b) in zip(self.types, other.types) {
            guard a.type.name == b.type.name, a.capacity == b.capacity, a.atCapacity == b.atCapacity,
                a.failedNeeds == b.failedNeeds
            else { return false }
            for level in 0..<max(a.buckets.count, b.buckets.count) {
                let sa = level < a.buckets.count ? a.buckets[level].slots : []
                let sb = level < b.buckets.count ? b.buckets[level].slots : []
                let fa = level < a.buckets.count ? a.buckets[level].failedNeeds : []
                let fb = level < b.buckets.count ? b.buckets[level].failedNeeds : []
                let wa = level / 64 < a.nonEmpty.count ? a.nonEmpty[level / 64] >> UInt64(level % 64) & 1 : 0
                let wb = level / 64 < b.nonEmpty.count ? b.nonEmpty[level / 64] >> UInt64(level % 64) & 1 : 0
                guard sa == sb, fa == fb, wa == wb else { return false }
            }
        }
        return true
    }

    /// The slot of `instances[index]`, of the type at `typeIndex`, whose containers are the match's from
    /// `firstContainer` on (``RunnerMatch/entry(ofInstanceContainer:)``).
    private func slot(
        of instances: [InstanceSnapshot],
        at index: Int,
        typeIndex: Int,
        firstContainer: Int,
        entries: QueueEntryList,
        match: RunnerMatch,
        order: Int
    ) -> Slot {
        var remaining = self.types[typeIndex].capacity
        let listed = instances[index].containerCount
        var containers = listed
        var full = false
        for n in firstContainer..<(firstContainer + listed) {
            if match.isFreed(instanceContainer: n) {
                // Its runner finishes with this pass: its slot is free.
                containers -= 1
                continue
            }
            if full { continue }
            guard let entry = match.entry(ofInstanceContainer: n) else {
                // Size unknown: assume the instance has nothing to spare.
                remaining = InstanceResources()
                full = true
                continue
            }
            remaining = remaining.subtracting(entries[entry].resources)
        }
        let state = instances[index].state
        let idleBehavior = instances[index].idleBehavior
        return Slot(
            typeIndex: typeIndex,
            order: order,
            remaining: remaining,
            containers: containers,
            ready: state == .idle || state == .running,
            // An unknown worker counts as soon available only while nothing runs on it (Arvados's
            // `Unallocated`): one kept for the runners a previous process left may never boot.
            acceptsContainers: idleBehavior == .run
                && (state == .booting || state == .idle || state == .running || (state == .unknown && containers == 0)),
            state: state,
            idleBehavior: idleBehavior
        )
    }

    /// The ID of the instance of `slot`, or `nil` for a create (in flight or planned).
    func id(ofSlot slot: Int) -> InstanceID? { slot < self.ids.count ? self.ids[slot] : nil }

    /// The index of the type named `name`, if the pass has seen it.
    func typeIndex(named name: InstanceTypeName) -> Int? {
        // A pass sees few types: comparing their names is cheaper than hashing one.
        guard self.types.count > 8 else { return self.types.firstIndex { $0.type.name == name } }
        return self.typeIndexByName[name]
    }

    /// Registers `type`, with whether the cloud is out of capacity for it, and returns its index.
    mutating func register(_ type: InstanceType, atCapacity: Bool) -> Int {
        if let index = self.typeIndexByName[type.name] { return index }
        let index = self.types.count
        self.types.append(TypeEntry(type: type, capacity: type.capacity, atCapacity: atCapacity))
        self.typeIndexByName[type.name] = index
        return index
    }

    /// The best slot for a container needing `need` that may run on the types at `typeIndices`: the
    /// busiest instance with room, then a ready one over a booting one, then the cheapest (Arvados's
    /// instance order).
    mutating func best(for need: InstanceResources, typeIndices: [Int]) -> Int? {
        // Types known to have no room for this need are left out (bit i stands for typeIndices[i]).
        var live: UInt64 = 0
        var words = 0
        for (i, t) in typeIndices.enumerated() where i < 64 {
            if self.types[t].failedNeeds.contains(where: { Self.dominates(need, $0) }) { continue }
            live |= 1 << UInt64(i)
            words = max(words, self.types[t].nonEmpty.count)
        }
        var word = words - 1
        while word >= 0 {
            var mask: UInt64 = 0
            for (i, t) in typeIndices.enumerated() where live & (1 << UInt64(i)) != 0 {
                if word < self.types[t].nonEmpty.count { mask |= self.types[t].nonEmpty[word] }
            }
            while mask != 0 {
                let bit = 63 - mask.leadingZeroBitCount
                mask &= ~(UInt64(1) << UInt64(bit))
                let level = word * 64 + bit
                var found: Int?
                for (i, t) in typeIndices.enumerated() where live & (1 << UInt64(i)) != 0 {
                    guard let slot = self.firstFit(typeIndex: t, level: level, need: need) else { continue }
                    if let current = found, !self.precedes(slot, current) { continue }
                    found = slot
                }
                if let found { return found }
            }
            word -= 1
        }
        for (i, t) in typeIndices.enumerated() where live & (1 << UInt64(i)) != 0 {
            Self.remember(need, in: &self.types[t].failedNeeds)
        }
        return nil
    }

    /// Adds `need` to a list of failed needs, dropping the oldest beyond ``failedNeedsKept``.
    private static func remember(_ need: InstanceResources, in failed: inout [InstanceResources]) {
        if failed.count >= Self.failedNeedsKept { failed.removeFirst() }
        failed.append(need)
    }

    /// Records that a container needing `need` is (tentatively) placed on `slot`.
    mutating func allocate(_ need: InstanceResources, to slot: Int) {
        self.remove(slot)
        self.slots[slot].remaining = self.slots[slot].remaining.subtracting(need)
        self.slots[slot].containers += 1
        self.insertIfUseful(slot)
    }

    /// Adds a planned create of the type at `typeIndex`, already holding a container needing `need`.
    mutating func addCreate(typeIndex: Int, holding need: InstanceResources) -> Int {
        let slot = self.slots.count
        self.slots.append(
            Slot(
                typeIndex: typeIndex,
                order: self.nextCreateOrder,
                remaining: self.types[typeIndex].capacity.subtracting(need),
                containers: 1,
                ready: false,
                acceptsContainers: true,
                state: .booting,
                idleBehavior: .run
            )
        )
        self.nextCreateOrder -= 1
        self.insertIfUseful(slot)
        return slot
    }

    // MARK: - Buckets

    private mutating func firstFit(typeIndex t: Int, level: Int, need: InstanceResources) -> Int? {
        guard level < self.types[t].buckets.count, !self.types[t].buckets[level].slots.isEmpty else { return nil }
        for failed in self.types[t].buckets[level].failedNeeds where Self.dominates(need, failed) { return nil }
        for slot in self.types[t].buckets[level].slots.reversed() where self.slots[slot].remaining.accommodates(need) {
            return slot
        }
        Self.remember(need, in: &self.types[t].buckets[level].failedNeeds)
        return nil
    }

    /// How many slots beyond the instances' the index reserves for a pass's creates at most.
    private static let createsReserved = 256

    /// How many failed needs each bucket remembers.
    private static let failedNeedsKept = 8

    /// Whether `a` needs at least as much as `b` in every dimension, so where `b` does not fit, `a` does not.
    private static func dominates(_ a: InstanceResources, _ b: InstanceResources) -> Bool {
        a.vcpus >= b.vcpus && a.ram >= b.ram && a.scratch >= b.scratch && a.gpus >= b.gpus && a.gpuVRAM >= b.gpuVRAM
    }

    /// Arvados's instance order between slots of different types: price, then VCPUs, RAM and scratch
    /// descending; within a type, the slot order.
    private func precedes(_ a: Int, _ b: Int) -> Bool {
        let sa = self.slots[a]
        let sb = self.slots[b]
        if sa.typeIndex == sb.typeIndex { return sa.order < sb.order }
        let ta = self.types[sa.typeIndex].type
        let tb = self.types[sb.typeIndex].type
        if ta.price != tb.price { return ta.price < tb.price }
        if ta.vcpus != tb.vcpus { return ta.vcpus > tb.vcpus }
        if ta.ram != tb.ram { return ta.ram > tb.ram }
        if ta.scratch != tb.scratch { return ta.scratch > tb.scratch }
        return (self.id(ofSlot: a)?.rawValue ?? "") < (self.id(ofSlot: b)?.rawValue ?? "")
    }

    /// Puts `slot` in the bucket of its level if it can take more containers.
    ///
    /// With `building` (the index being built), `slot` has the lowest order yet and no need has failed: it is
    /// appended, with no search for its position and no failed needs to drop.
    private mutating func insertIfUseful(_ slot: Int, building: Bool = false) {
        let s = self.slots[slot]
        guard s.acceptsContainers, s.remaining.vcpus > 0,
            self.maxContainersPerInstance <= 0 || s.containers < self.maxContainersPerInstance
        else { return }
        let level = s.containers * 2 + (s.ready ? 1 : 0)
        let t = s.typeIndex
        while self.types[t].buckets.count <= level { self.types[t].buckets.append(Bucket()) }
        while self.types[t].nonEmpty.count <= level / 64 { self.types[t].nonEmpty.append(0) }
        if building {
            self.types[t].buckets[level].slots.append(slot)
        } else {
            let position = self.position(of: s.order, in: self.types[t].buckets[level].slots)
            self.types[t].buckets[level].slots.insert(slot, at: position)
            self.types[t].buckets[level].failedNeeds.removeAll { s.remaining.accommodates($0) }
            self.types[t].failedNeeds.removeAll { s.remaining.accommodates($0) }
        }
        self.types[t].nonEmpty[level / 64] |= UInt64(1) << UInt64(level % 64)
        self.slots[slot].level = level
    }

    private mutating func remove(_ slot: Int) {
        guard let level = self.slots[slot].level else { return }
        let t = self.slots[slot].typeIndex
        let position = self.position(of: self.slots[slot].order, in: self.types[t].buckets[level].slots)
        self.types[t].buckets[level].slots.remove(at: position)
        if self.types[t].buckets[level].slots.isEmpty {
            self.types[t].nonEmpty[level / 64] &= ~(UInt64(1) << UInt64(level % 64))
        }
        self.slots[slot].level = nil
    }

    /// The first position in `bucket` (sorted by descending order) whose slot order is not above `order`.
    private func position(of order: Int, in bucket: [Int]) -> Int {
        var low = 0
        var high = bucket.count
        while low < high {
            let mid = (low + high) / 2
            if self.slots[bucket[mid]].order > order { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
