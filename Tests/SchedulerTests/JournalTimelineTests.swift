import DispatchModel
import DispatchTestSupport
import Synchronization
import Testing

@testable import Scheduler

/// The scheduling loop's journal records: a container through quota, capacity, a create, a start and, after
/// its instance vanished, a requeue, in order.
@Suite("Journal timeline")
struct JournalTimelineTests {
    final class Collected: Sendable {
        let events = Mutex<[JournalEvent]>([])
        var sink: JournalSink { JournalSink { event in self.events.withLock { $0.append(event) } } }
        var all: [JournalEvent] { self.events.withLock { $0 } }
    }

    @Test("Quota, capacity, create, start, preemption: the container's timeline reads in order")
    func timeline() async throws {
        let collected = Collected()
        let uuid = containerUUID(1)
        let loop = SchedulingLoop(
            queue: SchedulingLoopBackoffTests.FailingQueue([]),
            pool: SchedulingLoopBackoffTests.IdlePool(),
            clock: ManualClock(),
            logger: LogLines().logger(),
            journal: collected.sink
        )
        var planner = SchedulingPlanner(configuration: .init())
        var queue = StubQueue([container(1, priority: 1, state: .locked, vcpus: 1, ram: 1 << 30)], chooser: .suite())
        var second = 0
        func pass(_ pool: PoolSnapshot) async -> Plan {
            second += 1
            let now = Timestamp(secondsSince1970: testNow.secondsSince1970 + Int64(second))
            let plan = planner.plan(queue: queue.snapshot, pool: pool, now: now)
            await loop.record(plan, queue: queue.snapshot, pool: pool, now: now)
            return plan
        }
        // 1. The provider's quota holds creates.
        _ = await pass(PoolSnapshot(atQuota: true, quotaHeld: true, quotaErrors: 1))
        // 2. Quota lifted, every type out of capacity.
        _ = await pass(PoolSnapshot(quotaErrors: 1, capacityHolds: [.all]))
        // 3. Capacity back: a create.
        let create = await pass(PoolSnapshot(quotaErrors: 1))
        #expect(create.actions.contains { if case .create = $0 { true } else { false } })
        // 4. The instance is ready: a start.
        let id = InstanceID(rawValue: "i-1")
        let type = try #require(queue.snapshot.entries.first?.instanceTypes.first)
        _ = await pass(PoolSnapshot(instances: [.init(id: id, type: type, state: .idle)], quotaErrors: 1))
        // 5. The instance vanished with the container's runner: the reconciliation requeues it.
        queue.changeState(uuid, from: .locked, to: .running)
        let after = await pass(PoolSnapshot(quotaErrors: 1))
        let kinds = collected.all.filter { $0.container == uuid }.map(\.kind)
        let reasons = collected.all.filter { $0.container == uuid }.map(\.reason)
        // At quota, the Locked container that fits no instance is unlocked first (Arvados's rule), then waits.
        #expect(Array(kinds.prefix(6)) == [.unlock, .wait, .wait, .create, .wait, .start], "\(kinds) \(reasons)")
        #expect(reasons[0] == "pool capacity is used by higher priority containers", "\(reasons[0])")
        #expect(reasons[1].contains("cloud account limits"), "\(reasons[1])")
        #expect(reasons[2].contains("at capacity for all eligible instance types"), "\(reasons[2])")
        #expect(reasons[3] == "cheapest eligible type")
        #expect(reasons[4].contains("Waiting for a \(type.name) instance to boot"))
        #expect(collected.all.filter { $0.container == uuid }[5].instance == id)
        // The pass after the preemption decided something about the container, and the journal has it last.
        let decided = after.actions.compactMap { action -> JournalEvent.Kind? in
            switch action {
            case .unlock(uuid, _): .unlock
            case .cancel(uuid, _): .cancel
            case .kill(uuid, _): .kill
            default: nil
            }
        }
        #expect(!decided.isEmpty, "\(after.actions)")
        #expect(kinds.last == decided.last)
        // Times never go back.
        let times = collected.all.map(\.time)
        #expect(times == times.sorted())
    }
}
