import DispatchModel
import DispatchTestSupport
import Synchronization
import Testing

@testable import Scheduler

/// A queue call that ends while a pass is between reading the queue and applying its plan: the pass's snapshot
/// predates the call's effect, so the pass must not make the call again.
@Suite("Scheduling loop races")
struct SchedulingLoopRaceTests {
    /// One Queued container whose lock waits for the test's word.
    final class GatedQueue: SchedulingQueue {
        private let state: Mutex<(entries: [QueueEntry], locks: Int, gate: CheckedContinuation<Void, Never>?)>
        init(_ entries: [QueueEntry]) {
            self.state = Mutex((entries, 0, nil))
        }

        var locks: Int { self.state.withLock { $0.locks } }

        /// Lets the waiting lock go through.
        func releaseLock() {
            self.state.withLock { state in
                state.gate?.resume()
                state.gate = nil
            }
        }

        func schedulingSnapshot() async -> QueueSnapshot {
            QueueSnapshot(entries: self.state.withLock { $0.entries }, updatedAt: testNow)
        }
        func last503() async -> Timestamp? { nil }
        func changes() async -> AsyncStream<Void> { AsyncStream { _ in } }
        func lock(_ uuid: ContainerUUID) async throws {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                self.state.withLock { state in
                    state.locks += 1
                    state.gate = continuation
                }
            }
            self.state.withLock { state in
                for i in state.entries.indices where state.entries[i].uuid == uuid {
                    state.entries[i].container.state = .locked
                }
            }
        }
        func unlock(_ uuid: ContainerUUID) async throws {}
        func cancel(_ uuid: ContainerUUID) async throws {}
        func forget(_ uuid: ContainerUUID) async {}
    }

    /// One idle worker; once armed, the next snapshot waits for the test's word.
    final class GatedPool: InertSchedulingPool {
        private let state = Mutex<(armed: Bool, waiting: Bool, gate: CheckedContinuation<Void, Never>?)>(
            (false, false, nil)
        )

        /// Makes the next snapshot wait.
        func arm() { self.state.withLock { $0.armed = true } }

        /// Whether a snapshot is waiting.
        var waiting: Bool { self.state.withLock { $0.waiting } }

        /// Lets the waiting snapshot be taken.
        func releaseSnapshot() {
            self.state.withLock { state in
                state.gate?.resume()
                state.gate = nil
                state.waiting = false
            }
        }

        func schedulingSnapshot() async -> PoolSnapshot {
            let wait = self.state.withLock { state in
                defer { state.armed = false }
                return state.armed
            }
            if wait {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    self.state.withLock { state in
                        state.gate = continuation
                        state.waiting = true
                    }
                }
            }
            var pool = StubPool(quota: 100)
            pool.workers = [.init(id: "i-1", type: instanceType(1), state: .idle)]
            return pool.snapshot
        }
    }

    @Test("A lock that goes through while a pass reads the pool is not sent again by that pass")
    func lockEndingMidPass() async throws {
        let entries = StubQueue(
            [container(1, priority: 1, state: .queued, vcpus: 1, ram: 1 << 30)],
            chooser: .suite()
        ).snapshot.entries.map { $0 }
        let queue = GatedQueue(entries)
        let pool = GatedPool()
        let clock = ManualClock()
        let loop = SchedulingLoop(
            queue: queue,
            pool: pool,
            clock: clock,
            wallClock: { testNow },
            logger: LogLines().logger()
        )
        let task = Task { try await loop.run() }
        // A first pass sends the lock, which waits.
        while queue.locks == 0 {
            await clock.waitForSleepers(1)
            clock.advance(by: .milliseconds(250))
            await Task.yield()
        }
        // The loop's busy timer starts the next pass, which reads the queue (still Queued, the lock in flight)
        // and then waits for the pool.
        pool.arm()
        while !pool.waiting {
            await clock.waitForSleepers(1)
            clock.advance(by: .milliseconds(250))
            await Task.yield()
        }
        // The lock goes through and its end reaches the loop while the pass waits.
        queue.releaseLock()
        while await loop.queueCallsInFlight() > 0 { await Task.yield() }
        pool.releaseSnapshot()
        // The next passes see the container Locked.
        for _ in 0..<8 {
            await clock.waitForSleepers(1)
            clock.advance(by: .milliseconds(250))
        }
        #expect(queue.locks == 1, "the pass with the stale snapshot sent the lock again")
        queue.releaseLock()  // a second lock, if any, must not hold up the shutdown
        task.cancel()
        _ = await task.result
    }
}
