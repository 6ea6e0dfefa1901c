import DispatchModel
import DispatchTestSupport
import Testing

@testable import Scheduler

/// The journal's table of waits: what it says is new must be exactly what a plain lookup in the last pass's
/// waits says, whatever leaves, arrives, moves, changes its record or its reason between passes.
@Suite("Journalled waits")
struct JournalledWaitsTests {
    typealias Kind = ScheduledQueue.Code.Kind

    static let kinds: [Kind] = [.newInstance, .instanceTypes, .cloudLimits, .clusterCapacity, .hourlySpendCap]

    static func entry(_ i: Int) -> QueueEntry {
        QueueEntry(
            container: Container(uuid: containerUUID(i), state: .queued, priority: 1),
            instanceTypes: [],
            resources: InstanceResources(vcpus: 1, ram: .giB(1)),
            firstSeenAt: testNow
        )
    }

    /// Notes one pass (waiting entries in order, with their reasons) through both the table and the reference;
    /// the snapshot array holds them in another order, with `others` that do not wait. Returns the UUIDs each
    /// called new.
    static func pass(
        _ waits: inout JournalledWaits,
        _ reference: inout [ContainerUUID: Kind],
        _ pass: [(QueueEntry, Kind)],
        others: [QueueEntry] = []
    ) -> (table: [ContainerUUID], reference: [ContainerUUID]) {
        var snapshot = pass.map(\.0) + others
        snapshot.reverse()
        var index: [ContainerUUID: Int] = [:]
        for (i, entry) in snapshot.enumerated() { index[entry.uuid] = i }
        var fromTable: [ContainerUUID] = []
        var fromReference: [ContainerUUID] = []
        var next: [ContainerUUID: Kind] = [:]
        waits.beginPass(QueueEntryList(snapshot))
        for (entry, kind) in pass {
            if waits.note(index[entry.uuid]!, kind) { fromTable.append(entry.uuid) }
            if reference[entry.uuid] != kind { fromReference.append(entry.uuid) }
            next[entry.uuid] = kind
        }
        waits.endPass()
        reference = next
        return (fromTable, fromReference)
    }

    @Test("Agrees with a lookup of the last pass over random passes: leaving, arriving, moving, changing")
    func agreesWithReference() {
        var serial = 0
        FuzzBudget(name: "journalled-waits", defaultCases: 300).run { random in
            var waits = JournalledWaits()
            var reference: [ContainerUUID: Kind] = [:]
            var order: [(QueueEntry, Kind)] = []
            var others: [QueueEntry] = []
            for _ in 0..<Int.random(in: 1...12, using: &random) {
                // Leave: some from the front (started: still in the snapshot, not waiting), some anywhere.
                if !order.isEmpty && random.chance(0.7) {
                    let n = Int.random(in: 0...min(order.count, 100), using: &random)
                    others = order.prefix(n).map(\.0)
                    order.removeFirst(n)
                } else {
                    others = []
                }
                for _ in 0..<Int.random(in: 0...5, using: &random) where !order.isEmpty {
                    order.remove(at: Int.random(in: 0..<order.count, using: &random))
                }
                // Arrive: at the end (later), or anywhere (higher priority).
                for _ in 0..<Int.random(in: 0...150, using: &random) {
                    serial += 1
                    let entry = (Self.entry(serial), random.pick(Self.kinds))
                    if random.chance(0.2) {
                        order.insert(entry, at: Int.random(in: 0...order.count, using: &random))
                    } else {
                        order.append(entry)
                    }
                }
                // Move, near and far.
                for _ in 0..<Int.random(in: 0...4, using: &random) where order.count > 1 {
                    let entry = order.remove(at: Int.random(in: 0..<order.count, using: &random))
                    order.insert(entry, at: Int.random(in: 0...order.count, using: &random))
                }
                // Change reasons, and records (a new record for the same container, in place or moved).
                for _ in 0..<Int.random(in: 0...4, using: &random) where !order.isEmpty {
                    order[Int.random(in: 0..<order.count, using: &random)].1 = random.pick(Self.kinds)
                }
                for _ in 0..<Int.random(in: 0...4, using: &random) where !order.isEmpty {
                    let k = Int.random(in: 0..<order.count, using: &random)
                    order[k].0.container.priority += 1
                    if random.chance(0.5) {
                        let entry = order.remove(at: k)
                        order.insert(entry, at: Int.random(in: 0...order.count, using: &random))
                    }
                }
                if random.chance(0.05) { order.reverse() }
                let result = Self.pass(&waits, &reference, order, others: others)
                #expect(result.table == result.reference)
                #expect(waits.count == order.count)
                for (entry, kind) in order.prefix(3) { #expect(waits.kind(of: entry.uuid) == kind) }
            }
        }
    }

    @Test("Steady passes over a long queue call nothing new but what changed")
    func steadyQueue() {
        var waits = JournalledWaits()
        var reference: [ContainerUUID: Kind] = [:]
        var order = (1...5000).map { (Self.entry($0), Kind.clusterCapacity) }
        #expect(Self.pass(&waits, &reference, order).table.count == 5000)
        #expect(Self.pass(&waits, &reference, order).table.isEmpty)
        // 80 start from the front (more than the lookahead), one changes reason, one its record, two arrive.
        let started = order.prefix(80).map(\.0)
        order.removeFirst(80)
        order[10].1 = .newInstance
        order[20].0.container.priority = 7
        order.append((Self.entry(6000), .clusterCapacity))
        order.append((Self.entry(6001), .clusterCapacity))
        let result = Self.pass(&waits, &reference, order, others: started)
        #expect(result.table == [containerUUID(91), containerUUID(6000), containerUUID(6001)])
        #expect(result.table == result.reference)
        #expect(waits.kind(of: containerUUID(1)) == nil, "a container that left is forgotten")
        // One that left comes back: a new wait.
        order.append((Self.entry(1), .clusterCapacity))
        #expect(Self.pass(&waits, &reference, order).table == [containerUUID(1)])
    }
}

/// The look-up the scheduling loop uses to drop retries and journalled kills of containers gone from the queue.
@Suite("Queue snapshot look-up")
struct QueueSnapshotPresentTests {
    @Test("Finds exactly those of the given UUIDs that are in the queue, whatever their length")
    func presentMatchesSetIntersection() {
        FuzzBudget(name: "queue-present", defaultCases: 200).run { random in
            // Arvados UUIDs, and odd ones: short, long, non-ASCII (the filter reads the last 16 bytes).
            let pool = (0..<300).map { i -> ContainerUUID in
                random.chance(0.8) ? containerUUID(i) : ContainerUUID(rawValue: random.hostileString(maxLength: 30))
            }
            let inQueue = pool.filter { _ in random.chance(0.5) }
            let asked = Set(pool.filter { _ in random.chance(0.3) })
            let entries = inQueue.map { uuid in
                QueueEntry(
                    container: Container(uuid: uuid, state: .queued, priority: 1),
                    instanceTypes: [],
                    resources: InstanceResources(vcpus: 1, ram: .giB(1)),
                    firstSeenAt: testNow
                )
            }
            let snapshot = QueueSnapshot(entries: entries, updatedAt: testNow)
            #expect(snapshot.present(asked) == asked.intersection(inQueue))
        }
    }
}
