import DispatchModel
import DispatchTestSupport
import Scheduler
import Synchronization
import Testing

/// Issue 14's findings, each pinned by a test that failed before its fix: a container never starts twice
/// after a restart, never waits forever on a worker that will not boot, and a quota that comes and goes does
/// not use up its dispatch attempts.
@Suite("Never twice, never stuck, never churning")
struct NeverTwiceTests {
    // MARK: - Finding 1: stale locks are fixed only once the queue is known

    /// A queue that is empty and not yet updated until ``load(_:)``, as after a restart.
    final class RestartQueue: SchedulingQueue {
        private let state = Mutex<(entries: [QueueEntry], updatedAt: Timestamp?, unlocks: [ContainerUUID])>(
            ([], nil, [])
        )
        private let stream = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

        var unlocks: [ContainerUUID] { self.state.withLock { $0.unlocks } }

        /// The first poll completes with these entries.
        func load(_ entries: [QueueEntry]) {
            self.state.withLock { $0 = (entries, testNow, $0.unlocks) }
            self.stream.continuation.yield()
        }

        func schedulingSnapshot() async -> QueueSnapshot {
            self.state.withLock { QueueSnapshot(entries: $0.entries, updatedAt: $0.updatedAt) }
        }
        func last503() async -> Timestamp? { nil }
        func changes() async -> AsyncStream<Void> { self.stream.stream }
        func lock(_ uuid: ContainerUUID) async throws {}
        func unlock(_ uuid: ContainerUUID) async throws { self.state.withLock { $0.unlocks.append(uuid) } }
        func cancel(_ uuid: ContainerUUID) async throws {}
        func forget(_ uuid: ContainerUUID) async {}
    }

    /// Two workers after a restart: `i-1` unknown (it runs container 1, which its first probe will show),
    /// `i-2` idle. Records every start.
    final class RestartPool: InertSchedulingPool {
        private let state = Mutex<(probed: Bool, starts: [ContainerUUID])>((false, []))
        private let stream = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

        var starts: [ContainerUUID] { self.state.withLock { $0.starts } }

        /// The first probe of `i-1` answers: it is running container 1.
        func probe() {
            self.state.withLock { $0.probed = true }
            self.stream.continuation.yield()
        }

        func schedulingSnapshot() async -> PoolSnapshot {
            let probed = self.state.withLock { $0.probed }
            var pool = StubPool(quota: 100)
            pool.workers = [
                .init(
                    id: "i-1",
                    type: instanceType(1),
                    state: probed ? .running : .unknown,
                    running: probed ? [containerUUID(1)] : []
                ),
                .init(id: "i-2", type: instanceType(1), state: .idle),
            ]
            if probed { pool.running[containerUUID(1)] = .some(nil) }
            return pool.snapshot
        }
        func changes() async -> AsyncStream<Void> { self.stream.stream }
        func startContainer(_ container: Container, on id: InstanceID) async -> Bool {
            self.state.withLock { $0.starts.append(container.uuid) }
            return true
        }
    }

    /// Advances the manual clock `seconds` times by a second, letting the loop settle after each.
    static func advance(_ clock: ManualClock, seconds: Int) async {
        for _ in 0..<seconds {
            await clock.waitForSleepers(1)
            for _ in 0..<50 { await Task.yield() }
            clock.advance(by: .seconds(1))
        }
        for _ in 0..<50 { await Task.yield() }
    }

    @Test("After a restart, a Locked container whose worker is not probed yet is neither started again nor unlocked")
    func noSecondStartAfterRestart() async throws {
        let queue = RestartQueue()
        let pool = RestartPool()
        let clock = ManualClock()
        var configuration = SchedulingLoop<ManualClock>.Configuration()
        configuration.staleLockTimeout = .seconds(60)
        let loop = SchedulingLoop(
            queue: queue,
            pool: pool,
            clock: clock,
            wallClock: { testNow },
            configuration: configuration,
            logger: LogLines().logger()
        )
        let locked = StubQueue(
            [container(1, priority: 1, state: .locked, vcpus: 1, ram: 1 << 30)],
            chooser: .suite()
        )
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await loop.run() }
            // The pool has listed its workers; the queue's first poll takes a few seconds.
            await Self.advance(clock, seconds: 3)
            queue.load(Array(locked.snapshot.entries))
            await Self.advance(clock, seconds: 5)
            #expect(pool.starts.isEmpty, "started again while its runner may be on i-1")
            #expect(queue.unlocks.isEmpty)
            // The probe of i-1 explains the lock; scheduling starts and leaves the container where it runs.
            pool.probe()
            await Self.advance(clock, seconds: 5)
            #expect(await loop.passCount() > 0)
            #expect(pool.starts.isEmpty)
            #expect(queue.unlocks.isEmpty)
            group.cancelAll()
            try? await group.waitForAll()
        }
    }

    @Test("A Queued container with a runner from an earlier attempt waits for that runner, which is killed")
    func previousAttemptWaits() {
        var pool = StubPool(quota: 100, canCreate: 1)
        pool.create(instanceType(1))
        pool.bootAllInstances()
        pool.workers[0].state = .running
        pool.workers[0].running = [containerUUID(1)]
        pool.running[containerUUID(1)] = .some(nil)
        var harness = Harness(
            queue: StubQueue([container(1, priority: 1, state: .queued, vcpus: 1, ram: 1 << 30)], chooser: .suite()),
            pool: pool
        )
        let plan = harness.runPass()
        #expect(!plan.actions.contains(.lock(containerUUID(1))))
        #expect(plan.actions.contains(.kill(containerUUID(1), reason: "state=Queued")))
        #expect(harness.status(of: containerUUID(1)) == "Waiting for previous container attempt to exit.")
    }

    // MARK: - Finding 3: an unknown worker kept for its runners holds up nothing else

    @Test("A Running container on no worker is cancelled even while an unknown worker keeps its own runners")
    func orphanCancelledBesideKeptUnknownWorker() {
        var pool = StubPool(quota: 100, canCreate: 1)
        pool.create(instanceType(2))
        pool.workers[0].state = .unknown
        pool.workers[0].running = [containerUUID(2)]
        pool.running[containerUUID(2)] = .some(nil)
        var harness = Harness(
            queue: StubQueue(
                [
                    container(1, priority: 1, state: .running, vcpus: 1, ram: 1 << 30),
                    container(2, priority: 1, state: .running, vcpus: 1, ram: 1 << 30),
                ],
                chooser: .suite()
            ),
            pool: pool
        )
        let plan = harness.runPass()
        #expect(plan.actions.contains(.cancel(containerUUID(1), reason: "not running on any worker")))
        #expect(!plan.actions.contains { if case .cancel(containerUUID(2), _) = $0 { true } else { false } })
        // An unknown worker nothing has been listed on may still be running it: no cancel then.
        harness.pool.workers[0].running = []
        harness.pool.running = [:]
        harness.queue.containers[0].state = .running
        harness.queue.containers[1].state = .complete
        harness.queue.update()
        let waiting = harness.runPass()
        #expect(!waiting.actions.contains { if case .cancel(containerUUID(1), _) = $0 { true } else { false } })
    }

    @Test("An unknown worker running containers takes no new ones: a new instance is created instead")
    func unknownWorkerWithRunnersTakesNoPlacement() {
        var pool = StubPool(quota: 100, canCreate: 2)
        pool.create(instanceType(2))
        pool.workers[0].state = .unknown
        pool.workers[0].running = [containerUUID(9)]
        pool.running[containerUUID(9)] = .some(nil)
        var harness = Harness(
            queue: StubQueue(
                [
                    container(1, priority: 1, state: .locked, vcpus: 1, ram: 1 << 30),
                    container(9, priority: 1, state: .running, vcpus: 1, ram: 1 << 30),
                ],
                // Type 2 is eligible too, so the unknown worker's spare VCPU would do.
                chooser: .suite(maximumPriceFactor: 2.5)
            ),
            pool: pool
        )
        let plan = harness.runPass()
        #expect(plan.actions.contains(.create(instanceType(1))), "\(plan.actions)")
        #expect(
            harness.status(of: containerUUID(1)) == "Waiting for a type1 instance to boot and be ready to accept work."
        )
    }

    // MARK: - Finding 5: a quota error between two passes is not missed

    @Test("A quota error whose hold lifted before the next pass still bounds the next creates")
    func quotaErrorBetweenPasses() {
        let containers = (1...10).map { container($0, priority: $0, state: .queued, vcpus: 1, ram: 1 << 30) }
        var harness = Harness(
            queue: StubQueue(containers, chooser: .suite()),
            pool: StubPool(quota: 100, canCreate: 100)
        )
        // The pool met a quota error (no instances: a one-minute hold) that has already lifted.
        var snapshot = harness.pool.snapshot
        snapshot.quotaErrors = 1
        let plan = harness.planner.plan(queue: harness.queue.snapshot, pool: snapshot, now: testNow)
        // One instance tries the quota; no container is locked before it exists.
        let creates = plan.actions.filter { if case .create = $0 { true } else { false } }
        #expect(creates.count == 1, "\(plan.actions)")
        #expect(!plan.actions.contains { if case .lock = $0 { true } else { false } }, "\(plan.actions)")
    }
}
