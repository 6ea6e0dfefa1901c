import DispatchModel
import DispatchTestSupport
import Synchronization
import Testing

@testable import Scheduler

/// `testNow` plus `seconds`.
private func later(_ seconds: Int64) -> Timestamp {
    Timestamp(secondsSince1970: testNow.secondsSince1970 + seconds)
}

/// A pass whose inputs (queue and pool versions, the snapshots' other fields, the planner's state, the 503
/// window) are those of the previous pass reuses its plan instead of planning again.
@Suite("Plan reuse")
struct PlanReuseTests {
    /// One Queued container whose locks always fail (so every plan has an action), with a version.
    final class VersionedQueue: SchedulingQueue {
        struct Refused: Error {}

        private let state: Mutex<(entries: [QueueEntry], version: UInt64, locks: Int)>

        init(_ entries: [QueueEntry]) { self.state = Mutex((entries, 1, 0)) }

        var locks: Int { self.state.withLock { $0.locks } }

        /// Changes the cached entries (a new version).
        func change(_ body: (inout [QueueEntry]) -> Void) {
            self.state.withLock { state in
                body(&state.entries)
                state.version += 1
            }
        }

        func schedulingSnapshot() async -> QueueSnapshot {
            self.state.withLock { QueueSnapshot(entries: $0.entries, updatedAt: testNow, version: $0.version) }
        }
        func last503() async -> Timestamp? { nil }
        func changes() async -> AsyncStream<Void> { AsyncStream { _ in } }
        func lock(_ uuid: ContainerUUID) async throws {
            self.state.withLock { $0.locks += 1 }
            throw Refused()
        }
        func unlock(_ uuid: ContainerUUID) async throws { throw Refused() }
        func cancel(_ uuid: ContainerUUID) async throws { throw Refused() }
        func forget(_ uuid: ContainerUUID) async {}
    }

    /// One idle worker that never changes (version 1).
    struct QuietPool: InertSchedulingPool {
        func schedulingSnapshot() async -> PoolSnapshot {
            var pool = StubPool(quota: 100)
            pool.workers = [.init(id: "i-1", type: instanceType(1), state: .idle)]
            var snapshot = pool.snapshot
            snapshot.version = 1
            return snapshot
        }
    }

    /// `count` 1-VCPU containers of priority 1 in `state`.
    static func entries(_ count: Int, state: ContainerState) -> [QueueEntry] {
        StubQueue(
            (1...count).map { container($0, priority: 1, state: state, vcpus: 1, ram: 1 << 30) },
            chooser: .suite()
        ).snapshot.entries.map { $0 }
    }

    /// A loop over `queue` and ``QuietPool``, on `clock`.
    static func loop(_ queue: VersionedQueue, clock: ManualClock = ManualClock()) -> SchedulingLoop<ManualClock> {
        SchedulingLoop(
            queue: queue,
            pool: QuietPool(),
            clock: clock,
            wallClock: { testNow },
            logger: LogLines().logger()
        )
    }

    static func entries() -> [QueueEntry] {
        StubQueue([container(1, priority: 1, state: .queued, vcpus: 1, ram: 1 << 30)], chooser: .suite())
            .snapshot.entries.map { $0 }
    }

    /// Runs the loop's 1 s wake-ups for `seconds` simulated seconds, calling `midway` halfway.
    static func run(
        _ queue: VersionedQueue,
        seconds: Int,
        midway: @escaping @Sendable () -> Void = {}
    ) async -> SchedulingLoop<ManualClock> {
        let clock = ManualClock()
        let loop = Self.loop(queue, clock: clock)
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await loop.run() }
            for step in 0..<(seconds * 4) {
                if step == seconds * 2 { midway() }
                await clock.waitForSleepers(1)
                for _ in 0..<20 { await Task.yield() }
                clock.advance(by: .milliseconds(250))
            }
            group.cancelAll()
            try? await group.waitForAll()
        }
        return loop
    }

    @Test("Wake-ups at a quiet cluster reuse the last plan, and still carry out its actions")
    func quietPassesReuse() async {
        let queue = VersionedQueue(Self.entries())
        let loop = await Self.run(queue, seconds: 30)
        let passes = await loop.passCount()
        let reused = await loop.reusedPlanCount()
        #expect(passes >= 20, "\(passes) passes")
        #expect(reused == passes - 1, "\(reused) of \(passes) passes reused the plan")
        // The reused plan keeps asking for the lock, which the loop retries with its backoff.
        #expect(queue.locks >= 4, "\(queue.locks) lock calls")
    }

    @Test("A change in the queue plans again")
    func changePlansAgain() async {
        let queue = VersionedQueue(Self.entries())
        let loop = await Self.run(queue, seconds: 20) {
            queue.change { $0[0].container.priority = 2 }
        }
        let passes = await loop.passCount()
        #expect(await loop.reusedPlanCount() == passes - 2, "the first pass and the one after the change plan")
    }

    @Test("The end of the 503 quiet period is a change: the container limit grows again")
    func quietPeriodEnds() throws {
        var planner = SchedulingPlanner(configuration: .init())
        planner.state.last503Seen = testNow
        let queue = QueueSnapshot(entries: Self.entries(), updatedAt: testNow, version: 1)
        var pool = StubPool(quota: 100)
        pool.workers = [.init(id: "i-1", type: instanceType(1), state: .idle)]
        var snapshot = pool.snapshot
        snapshot.version = 1
        snapshot.last503At = testNow
        let during = try #require(PassInputs(queue: queue, pool: snapshot, planner: planner, now: later(30)))
        let again = try #require(PassInputs(queue: queue, pool: snapshot, planner: planner, now: later(30)))
        let after = try #require(PassInputs(queue: queue, pool: snapshot, planner: planner, now: later(61)))
        #expect(during == again)
        #expect(during != after)
        // Snapshots without versions never match.
        let unversioned = QueueSnapshot(entries: [], updatedAt: nil)
        #expect(PassInputs(queue: unversioned, pool: snapshot, planner: planner, now: testNow) == nil)
    }

    @Test("A poll that changes no entry keeps the plan, unless a runner exited before it")
    func pollWithoutChange() throws {
        let planner = SchedulingPlanner(configuration: .init())
        var pool = StubPool(quota: 100)
        pool.workers = [.init(id: "i-1", type: instanceType(1), state: .idle)]
        var snapshot = pool.snapshot
        snapshot.version = 1
        let entries = Self.entries()
        func inputs(updatedAt: Timestamp?, _ pool: PoolSnapshot) throws -> PassInputs {
            let queue = QueueSnapshot(entries: entries, updatedAt: updatedAt, version: 1)
            return try #require(PassInputs(queue: queue, pool: pool, planner: planner, now: testNow))
        }
        // No runner has exited: the time of the queue's update cannot change the plan, only whether it came.
        #expect(try inputs(updatedAt: later(10), snapshot) == inputs(updatedAt: later(20), snapshot))
        #expect(try inputs(updatedAt: nil, snapshot) != inputs(updatedAt: later(10), snapshot))
        // A runner that exited at 15 s: a Running container whose runner exited before the queue's last update is
        // cancelled, so an update after the exit is a change and one before it is not.
        var exited = snapshot
        exited.runners = [containerUUID(1): .init(exitedAt: later(15))]
        #expect(try inputs(updatedAt: later(10), exited) == inputs(updatedAt: later(12), exited))
        #expect(try inputs(updatedAt: later(12), exited) != inputs(updatedAt: later(20), exited))
    }

    @Test(
        "The spacing after a pass grows with the containers and instances planned over, within its bounds",
        arguments: [
            (0, 0, 0), (2000, 0, 0), (1000, 1000, 0), (2001, 0, 10_005), (1999, 2, 10_195), (100_000, 100, 510_000),
            (1000, 5000, 505_000), (10_000, 10_000, 1_000_000), (250_000, 0, 1_000_000),
        ]
    )
    func passSpacing(containers: Int, instances: Int, microseconds: Int64) {
        let configuration = SchedulingLoop<ManualClock>.Configuration()
        #expect(configuration.passSpacing(containers: containers, instances: instances) == .microseconds(microseconds))
    }

    @Test("A pass over a large queue that planned afresh asks for spacing; a reused plan or a small queue does not")
    func passSpacingFromPass() async {
        // Locked already: no pass locks, so none waives its spacing.
        let many = Self.entries(3000, state: .locked)
        for (entries, expected) in [(many, Duration.microseconds(15_100)), (Self.entries(), .zero)] {
            let queue = VersionedQueue(entries)
            let loop = Self.loop(queue)
            #expect(await loop.pass() == expected, "\(entries.count) entries")
            #expect(await loop.pass() == .zero, "a reused plan needs no spacing")
            queue.change { $0[0].container.priority = 2 }
            #expect(await loop.pass() == expected, "a change plans afresh")
        }
    }

    @Test(
        "A fresh pass that locks leaves no spacing, so the pass after the locks' answers starts at once; never twice in a row"
    )
    func lockPassUnspaced() async {
        // Queued, with an idle worker: every fresh plan locks (the stub refuses the lock, so it stays Queued).
        let queue = VersionedQueue(Self.entries(3000, state: .queued))
        let loop = Self.loop(queue)
        let spaced = Duration.microseconds(15_100)
        #expect(await loop.pass() == .zero, "the first fresh pass locks: unspaced")
        #expect(queue.locks >= 1)
        queue.change { $0[1].container.priority = 2 }
        #expect(await loop.pass() == spaced, "the next fresh pass locks too, but is spaced")
        queue.change { $0[2].container.priority = 2 }
        #expect(await loop.pass() == .zero, "and the one after that is not")
    }

    @Test("A reused plan reports the wait of its oldest container at the time it is reused")
    func reusedWaitGauge() {
        var plan = Plan()
        plan.longestWaitSince = testNow
        plan.metrics.containersLongestWaitTimeSeconds = 5
        #expect(plan.reused(at: later(100)).metrics.containersLongestWaitTimeSeconds == 100)
        #expect(Plan().reused(at: testNow).metrics.containersLongestWaitTimeSeconds == 0)
    }
}

/// The pass after one that locked (its spacing waived) comes once the locks are answered: a change meanwhile does
/// not take it, since it could start none of them.
@Suite("Pass after locks")
struct PassAfterLocksTests {
    /// Queued containers with a version; a lock waits until the test answers it, then makes its container Locked.
    final class GatedQueue: SchedulingQueue {
        private let state:
            Mutex<(entries: [QueueEntry], version: UInt64, gates: [CheckedContinuation<Void, Never>], open: Bool)>
        let changeStream: AsyncStream<Void>
        private let changeContinuation: AsyncStream<Void>.Continuation

        init(_ entries: [QueueEntry]) {
            self.state = Mutex((entries, 1, [], false))
            (self.changeStream, self.changeContinuation) = AsyncStream.makeStream(of: Void.self)
        }

        var pendingLocks: Int { self.state.withLock { $0.gates.count } }

        /// Changes an entry (a new version) and says so.
        func change(_ body: (inout [QueueEntry]) -> Void) {
            self.state.withLock { state in
                body(&state.entries)
                state.version += 1
            }
            self.changeContinuation.yield()
        }

        /// Answers every lock waiting; with `andLater`, every later one at once too.
        func answerLocks(andLater: Bool = false) {
            let gates = self.state.withLock { state in
                defer { state.gates = [] }
                if andLater { state.open = true }
                return state.gates
            }
            for gate in gates { gate.resume() }
        }

        func schedulingSnapshot() async -> QueueSnapshot {
            self.state.withLock { QueueSnapshot(entries: $0.entries, updatedAt: testNow, version: $0.version) }
        }
        func last503() async -> Timestamp? { nil }
        func changes() async -> AsyncStream<Void> { self.changeStream }
        func lock(_ uuid: ContainerUUID) async throws {
            await withCheckedContinuation { gate in
                let open = self.state.withLock { state in
                    if !state.open { state.gates.append(gate) }
                    return state.open
                }
                if open { gate.resume() }
            }
            self.change { entries in
                for i in entries.indices where entries[i].uuid == uuid { entries[i].container.state = .locked }
            }
        }
        func unlock(_ uuid: ContainerUUID) async throws {}
        func cancel(_ uuid: ContainerUUID) async throws {}
        func forget(_ uuid: ContainerUUID) async {}
    }

    /// Yields until `condition` holds; fails after many yields (the loop runs on the same cooperative pool).
    static func spin(_ what: Comment, _ condition: () async -> Bool) async {
        for _ in 0..<200_000 {
            if await condition() { return }
            await Task.yield()
        }
        Issue.record("never: \(what)")
    }

    /// A loop over 3,000 Queued containers and one idle worker (a fresh pass is spaced, and locks one container),
    /// run until its first lock is pending; then `body`.
    static func afterFirstLock(
        _ body: @escaping @Sendable (GatedQueue, SchedulingLoop<ManualClock>, ManualClock) async -> Void
    ) async {
        let queue = GatedQueue(PlanReuseTests.entries(3000, state: .queued))
        let clock = ManualClock()
        let loop = SchedulingLoop(
            queue: queue,
            pool: PlanReuseTests.QuietPool(),
            clock: clock,
            wallClock: { testNow },
            logger: LogLines().logger()
        )
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await loop.run() }
            queue.change { _ in }  // the first wake-up
            await Self.spin("the first pass locks") { queue.pendingLocks == 1 }
            #expect(await loop.passCount() == 1)
            await body(queue, loop, clock)
            queue.answerLocks(andLater: true)
            group.cancelAll()
            try? await group.waitForAll()
        }
    }

    @Test("A change before the locks' answers does not pass; the answers do")
    func waitsForAnswers() async {
        await Self.afterFirstLock { queue, loop, _ in
            queue.change { $0[2999].container.priority = 2 }
            await Self.spin("the change is held") { await loop.heldWakeupCount() >= 1 }
            #expect(await loop.passCount() == 1, "no pass before the answer")
            queue.answerLocks()
            await Self.spin("the pass after the answer") { await loop.passCount() == 2 }
        }
    }

    @Test("Without answers, the wait for them ends busyWakeupInterval after the pass")
    func waitEnds() async {
        await Self.afterFirstLock { queue, loop, clock in
            queue.change { $0[2999].container.priority = 2 }
            await Self.spin("the change is held") { await loop.heldWakeupCount() >= 1 }
            #expect(await loop.passCount() == 1)
            // The loop's timer (asleep for up to its 1 s wake-up interval) wakes it past the 250 ms.
            await clock.waitForSleepers(1)
            clock.advance(by: .seconds(1))
            await Self.spin("the pass after the wait") { await loop.passCount() == 2 }
            #expect(queue.pendingLocks == 1, "still unanswered")
        }
    }
}
