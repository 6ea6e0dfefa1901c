import DispatchModel
import DispatchTestSupport
import Synchronization
import Testing

@testable import Scheduler

/// The scheduling loop's journal records: a container through quota, capacity, a create, a start and, after
/// its instance vanished, a requeue, in order, through the loop's own passes.
@Suite("Journal timeline")
struct JournalTimelineTests {
    final class Collected: Sendable {
        let events = Mutex<[JournalEvent]>([])
        var sink: JournalSink { JournalSink { event in self.events.withLock { $0.append(event) } } }
        var all: [JournalEvent] { self.events.withLock { $0 } }
    }

    /// A queue whose lock and unlock succeed (and change the container's state), counting calls.
    final class ScriptedQueue: SchedulingQueue {
        let state: Mutex<(entries: QueueEntryList, calls: Int)>

        init(_ entries: some Sequence<QueueEntry>) { self.state = Mutex((QueueEntryList(entries), 0)) }

        var calls: Int { self.state.withLock { $0.calls } }

        func set(_ uuid: ContainerUUID, _ newState: ContainerState) {
            self.state.withLock { state in
                for i in state.entries.indices where state.entries[i].uuid == uuid {
                    state.entries[i].container.state = newState
                }
            }
        }

        func schedulingSnapshot() async -> QueueSnapshot {
            QueueSnapshot(entries: self.state.withLock { $0.entries }, updatedAt: testNow)
        }
        func last503() async -> Timestamp? { nil }
        func changes() async -> AsyncStream<Void> { AsyncStream { _ in } }
        func lock(_ uuid: ContainerUUID) async throws {
            self.set(uuid, .locked)
            self.state.withLock { $0.calls += 1 }
        }
        func unlock(_ uuid: ContainerUUID) async throws {
            self.set(uuid, .queued)
            self.state.withLock { $0.calls += 1 }
        }
        func cancel(_ uuid: ContainerUUID) async throws { self.state.withLock { $0.calls += 1 } }
        func forget(_ uuid: ContainerUUID) async {}
    }

    /// A pool whose snapshot the test sets; it accepts creates and starts.
    final class ScriptedPool: InertSchedulingPool {
        let snapshot = Mutex(PoolSnapshot())

        func schedulingSnapshot() async -> PoolSnapshot { self.snapshot.withLock { $0 } }
        func create(_ type: InstanceType) async -> Bool { true }
        func startContainer(_ container: Container, on id: InstanceID) async -> Bool { true }
        func shutdown(_ id: InstanceID) async -> Bool { true }
        func killContainer(_ uuid: ContainerUUID, reason: String) async -> Bool { true }
    }

    static func makeLoop(
        _ queue: ScriptedQueue,
        _ pool: ScriptedPool,
        _ collected: Collected
    )
        -> SchedulingLoop<ManualClock>
    {
        let second = Mutex<Int64>(0)
        return SchedulingLoop(
            queue: queue,
            pool: pool,
            clock: ManualClock(),
            wallClock: {
                Timestamp(
                    secondsSince1970: testNow.secondsSince1970
                        + second.withLock {
                            $0 += 1
                            return $0
                        }
                )
            },
            logger: LogLines().logger(),
            journal: collected.sink
        )
    }

    @Test("Quota, capacity, create, start, preemption: the container's timeline reads in order")
    func timeline() async throws {
        let collected = Collected()
        let uuid = containerUUID(1)
        let entries = StubQueue([container(1, priority: 1, state: .queued, vcpus: 1, ram: 1 << 30)], chooser: .suite())
            .snapshot.entries
        let type = try #require(entries.first?.instanceTypes.first)
        let queue = ScriptedQueue(entries)
        let pool = ScriptedPool()
        let loop = Self.makeLoop(queue, pool, collected)
        func pass(_ snapshot: PoolSnapshot, calls: Int? = nil) async {
            pool.snapshot.withLock { $0 = snapshot }
            await loop.pass()
            if let calls { _ = await eventually { queue.calls >= calls ? true : nil } }
        }
        // 1. No instance yet: one is created for the container, which waits for it, still Queued.
        await pass(PoolSnapshot())
        // 2. The provider's quota holds creates: the container waits on it.
        await pass(PoolSnapshot(atQuota: true, quotaHeld: true, quotaErrors: 1))
        // 3. Quota lifted, no instance known to fit: one instance tries the quota.
        await pass(PoolSnapshot(quotaErrors: 1))
        // 4. Every type out of capacity.
        await pass(PoolSnapshot(quotaErrors: 1, capacityHolds: [.all]))
        // 5. The instance is there: the container is locked for it.
        let id = InstanceID(rawValue: "i-1")
        await pass(PoolSnapshot(instances: [.init(id: id, type: type, state: .idle)], quotaErrors: 1), calls: 1)
        // 6. The instance went away before the container started, and the quota holds with no instance left:
        //    the Locked container that fits nowhere is unlocked.
        await pass(PoolSnapshot(atQuota: true, quotaHeld: true, quotaErrors: 2), calls: 2)
        // 7. Another instance: locked again, then started on it.
        await pass(PoolSnapshot(instances: [.init(id: id, type: type, state: .idle)], quotaErrors: 2), calls: 3)
        await pass(PoolSnapshot(instances: [.init(id: id, type: type, state: .idle)], quotaErrors: 2))
        // 8. The instance vanished with the container's runner (preempted): the reconciliation acts on it.
        queue.set(uuid, .running)
        await pass(PoolSnapshot(quotaErrors: 2))

        let mine = collected.all.filter { $0.container == uuid }
        let story = mine.map { event -> String in
            guard event.kind == .wait else { return event.kind.rawValue }
            if event.reason.contains("cloud account limits") { return "wait:quota" }
            if event.reason.contains("all eligible instance types") { return "wait:types" }
            if event.reason.contains("to boot") { return "wait:boot" }
            return "wait:capacity"
        }
        #expect(
            story == [
                "create", "wait:boot", "wait:quota", "create", "wait:boot", "wait:capacity", "lock", "unlock",
                "wait:quota", "lock", "wait:capacity", "start", "cancel",
            ],
            "\(mine.map(\.line))"
        )
        #expect(mine.first { $0.kind == .unlock }?.reason == "pool capacity is used by higher priority containers")
        #expect(mine.first { $0.kind == .create }?.reason == "cheapest eligible type")
        #expect(mine.first { $0.kind == .create }?.instanceType == type.name)
        #expect(mine.first { $0.kind == .start }?.instance == id)
        // Times never go back.
        #expect(mine.map(\.time) == mine.map(\.time).sorted())
    }

    @Test("Creates in the backlog are journalled with their containers, and say they wait in the backlog")
    func backlogCreatesJournalled() async {
        let collected = Collected()
        let entries = StubQueue(
            (1...3).map { container($0, priority: $0, state: .queued, vcpus: 1, ram: 1 << 30) },
            chooser: .suite()
        ).snapshot.entries
        let queue = ScriptedQueue(entries)
        let pool = ScriptedPool()
        let loop = Self.makeLoop(queue, pool, collected)
        // One create in flight allowed: the highest-priority container's create is the pass's own.
        pool.snapshot.withLock { $0 = PoolSnapshot(createBudget: 1) }
        await loop.pass()
        let creates = collected.all.filter { $0.kind == .create }
        #expect(creates.map(\.container) == [containerUUID(3), containerUUID(2), containerUUID(1)])
        #expect(creates.map { $0.reason.contains("in the create backlog") } == [false, true, true])
    }

    @Test("A wait is journalled once while it lasts, and again once the container left the queue and came back")
    func waitJournalledOncePerStretch() async {
        let collected = Collected()
        let entries = StubQueue(
            [container(1, priority: 1, state: .queued, vcpus: 1, ram: 1 << 30)],
            chooser: .suite()
        ).snapshot.entries
        let queue = ScriptedQueue(entries)
        let pool = ScriptedPool()
        pool.snapshot.withLock { $0 = PoolSnapshot(createBudget: 0) }
        let loop = Self.makeLoop(queue, pool, collected)
        await loop.pass()
        await loop.pass()
        let waits = { collected.all.filter { $0.kind == .wait && $0.container == containerUUID(1) }.count }
        #expect(waits() == 1, "an unchanged wait is not journalled again")
        queue.state.withLock { $0.entries = [] }
        await loop.pass()
        queue.state.withLock { $0.entries = entries }
        await loop.pass()
        #expect(waits() == 2, "the wait after the container came back is a new one")
    }

    @Test("A wait that moves between MaxInstances and the cluster's capacity is journalled once")
    func capacityReasonsAreOneWait() async {
        let collected = Collected()
        let entries = StubQueue(
            [container(1, priority: 1, state: .queued, vcpus: 1, ram: 1 << 30)],
            chooser: .suite()
        ).snapshot.entries
        let pool = ScriptedPool()
        // The only instance allowed is busy: the container waits for a place in the queue.
        pool.snapshot.withLock {
            $0 = PoolSnapshot(
                instances: [
                    InstanceSnapshot(
                        id: "i-1",
                        type: instanceType(1),
                        state: .running,
                        runningContainers: [containerUUID(9)]
                    )
                ],
                atQuota: true,
                maxInstances: 1
            )
        }
        let loop = Self.makeLoop(ScriptedQueue(entries), pool, collected)
        await loop.pass()
        #expect(await loop.planningView(of: containerUUID(1)).status?.description.contains("MaxInstances") == true)
        // One instance below MaxInstances, no capacity for a new one: the same position, behind capacity.
        pool.snapshot.withLock {
            $0.atQuota = false
            $0.maxInstances = 2
            $0.capacityHolds = [.all]
        }
        await loop.pass()
        #expect(await loop.planningView(of: containerUUID(1)).status == .waitingForClusterCapacity(position: 1))
        pool.snapshot.withLock {
            $0.atQuota = true
            $0.maxInstances = 1
            $0.capacityHolds = []
        }
        await loop.pass()
        let waits = collected.all.filter { $0.kind == .wait && $0.container == containerUUID(1) }
        #expect(waits.map(\.reason).count == 1, "\(waits.map(\.reason))")
        #expect(waits.first?.reason.contains("MaxInstances") == true)
    }

    @Test("A lock the loop does not make (one in flight or backing off) is not journalled")
    func repeatedLockJournalledOnce() async throws {
        let collected = Collected()
        let queue = SchedulingLoopBackoffTests.FailingQueue(SchedulingLoopBackoffTests.queuedContainers(1))
        let loop = SchedulingLoop(
            queue: queue,
            pool: SchedulingLoopBackoffTests.IdlePool(),
            clock: ManualClock(),
            logger: LogLines().logger(),
            journal: collected.sink
        )
        await loop.pass()
        await loop.pass()
        await loop.pass()
        #expect(collected.all.filter { $0.kind == .lock }.count == 1)
        #expect(await loop.queueCallCount() == 1)
    }
}

/// The loop hands each planned start to the pool with the container's record, taken from the plan.
@Suite("Scheduling loop starts")
struct SchedulingLoopStartTests {
    final class RecordingPool: InertSchedulingPool {
        let snapshot = Mutex(PoolSnapshot())
        let started = Mutex<[(Container, InstanceID)]>([])

        func schedulingSnapshot() async -> PoolSnapshot { self.snapshot.withLock { $0 } }
        func create(_ type: InstanceType) async -> Bool { true }
        func startContainer(_ container: Container, on id: InstanceID) async -> Bool {
            self.started.withLock { $0.append((container, id)) }
            return true
        }
        func shutdown(_ id: InstanceID) async -> Bool { true }
        func killContainer(_ uuid: ContainerUUID, reason: String) async -> Bool { true }
    }

    @Test("A Locked container on an idle instance is started there with its own record")
    func startCarriesTheContainer() async {
        var record = container(2, priority: 5, state: .locked, vcpus: 1, ram: 1 << 30)
        record.command = ["echo", "two"]
        let entries = StubQueue(
            [container(1, priority: 9, state: .queued, vcpus: 64, ram: 1 << 30), record],
            chooser: .suite()
        ).snapshot.entries
        let pool = RecordingPool()
        pool.snapshot.withLock {
            $0 = PoolSnapshot(
                instances: [InstanceSnapshot(id: "i-1", type: instanceType(1), state: .idle)],
                createBudget: 0
            )
        }
        let starting = SchedulingLoop(
            queue: JournalTimelineTests.ScriptedQueue(entries),
            pool: pool,
            clock: ManualClock(),
            wallClock: { testNow },
            logger: LogLines().logger(),
            journal: JournalTimelineTests.Collected().sink
        )
        await starting.pass()
        let started = pool.started.withLock { $0 }
        #expect(started.map(\.0.uuid) == [containerUUID(2)])
        #expect(started.first?.0.command == ["echo", "two"])
        #expect(started.map(\.1) == ["i-1"])
    }
}
