import DispatchModel
import DispatchTestSupport
import Synchronization
import Testing

@testable import Scheduler

/// The scheduling loop against an API whose queue calls keep failing (a full disk behind the container API):
/// each container's calls are backed off, and the failures are logged at most once a minute with a count.
@Suite("Scheduling loop backoff")
struct SchedulingLoopBackoffTests {
    /// A queue of one Queued container whose lock fails the first `failures` times.
    final class FailingQueue: SchedulingQueue {
        struct Refused: Error, CustomStringConvertible {
            var description: String { "500 Database write failed: database or disk is full" }
        }

        private let state: Mutex<(entries: [QueueEntry], locks: Int, failures: Int)>

        init(_ entries: [QueueEntry], failures: Int = .max) {
            self.state = Mutex((entries, 0, failures))
        }

        /// Lock calls made so far.
        var locks: Int { self.state.withLock { $0.locks } }

        func schedulingSnapshot() async -> QueueSnapshot {
            QueueSnapshot(entries: self.state.withLock { $0.entries }, updatedAt: testNow)
        }
        func last503() async -> Timestamp? { nil }
        func changes() async -> AsyncStream<Void> { AsyncStream { _ in } }
        func lock(_ uuid: ContainerUUID) async throws {
            try self.state.withLock { state in
                state.locks += 1
                guard state.failures <= 0 else {
                    state.failures -= 1
                    throw Refused()
                }
                for i in state.entries.indices where state.entries[i].uuid == uuid {
                    state.entries[i].container.state = .locked
                }
            }
        }
        func unlock(_ uuid: ContainerUUID) async throws { throw Refused() }
        func cancel(_ uuid: ContainerUUID) async throws { throw Refused() }
        func forget(_ uuid: ContainerUUID) async {}
    }

    /// Idle type-1 workers that never change.
    struct IdlePool: InertSchedulingPool {
        var workers = 1

        func schedulingSnapshot() async -> PoolSnapshot {
            var pool = StubPool(quota: 100)
            pool.workers = (1...self.workers).map {
                .init(id: InstanceID(rawValue: "i-\($0)"), type: instanceType(1), state: .idle)
            }
            return pool.snapshot
        }
    }

    static func queuedContainers(_ count: Int) -> [QueueEntry] {
        StubQueue(
            (1...count).map { container($0, priority: 1, state: .queued, vcpus: 1, ram: 1 << 30) },
            chooser: .suite()
        ).snapshot.entries.map { $0 }
    }

    /// Runs the loop for `seconds` simulated seconds in 100 ms steps, letting it settle after each.
    static func run(
        _ queue: FailingQueue,
        workers: Int = 1,
        seconds: Int,
        lines: LogLines
    ) async throws -> SchedulingLoop<ManualClock> {
        let clock = ManualClock()
        let loop = SchedulingLoop(
            queue: queue,
            pool: IdlePool(workers: workers),
            clock: clock,
            wallClock: { testNow },
            logger: lines.logger()
        )
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await loop.run() }
            for _ in 0..<(seconds * 10) {
                await clock.waitForSleepers(1)
                for _ in 0..<20 { await Task.yield() }
                clock.advance(by: .milliseconds(100))
            }
            group.cancelAll()
            try? await group.waitForAll()
        }
        return loop
    }

    @Test("A pass made outside the loop's run has made its queue calls when it returns")
    func lonePassWaitsForItsCalls() async {
        let queue = FailingQueue(Self.queuedContainers(1), failures: 0)
        let loop = SchedulingLoop(queue: queue, pool: IdlePool(), clock: ManualClock(), logger: LogLines().logger())
        await loop.pass()
        #expect(queue.locks == 1)
        #expect(await loop.queueCallCount() == 1)
    }

    @Test("A lock that keeps failing is retried with exponential backoff, not at every pass")
    func lockFailuresBackOff() async throws {
        let queue = FailingQueue(Self.queuedContainers(1))
        let lines = LogLines()
        let loop = try await Self.run(queue, seconds: 300, lines: lines)

        // Delays of at least 0.5, 1, 2, 4, 8 s, then at least 15 s (half of the 30 s cap): in 300 s at most
        // 5 + 285 / 15 + 1 = 25 attempts, where the old loop tried at every pass (more than 1,000 here).
        #expect(queue.locks >= 10, "it keeps retrying")
        #expect(queue.locks <= 25, "\(queue.locks) lock calls in 300 simulated seconds")
        #expect(await loop.queueCallCount() == queue.locks)

        // Logged at once, then at most once a minute, with the count of failures meanwhile.
        let failures = lines.all.filter { $0.message.hasPrefix("Queue call lock") }
        #expect(failures.count >= 2)
        #expect(failures.count <= 1 + 300 / 60, "\(failures.map(\.message))")
        #expect(
            failures.first?.message == "Queue call lock failed: 500 Database write failed: database or disk is full"
        )
        let counted = failures.dropFirst().compactMap { Int($0.metadata["failures"] ?? "") }
        #expect(counted.count == failures.count - 1)
        #expect(1 + counted.reduce(0, +) <= queue.locks)
        #expect(failures.dropFirst().allSatisfy { $0.message.contains("times in the last ") })
        #expect(failures.allSatisfy { $0.level == "warning" })
    }

    @Test("Many containers failing together cost one log line a minute, and each is backed off on its own")
    func manyContainersBackOff() async throws {
        let queue = FailingQueue(Self.queuedContainers(20))
        let lines = LogLines()
        _ = try await Self.run(queue, workers: 20, seconds: 120, lines: lines)
        // Each container: at most 5 + 105 / 15 + 1 = 13 attempts in 120 s.
        #expect(queue.locks >= 20 * 5)
        #expect(queue.locks <= 20 * 13, "\(queue.locks) lock calls in 120 simulated seconds")
        #expect(lines.all.count(where: { $0.message.hasPrefix("Queue call lock") }) <= 3)
        let warnings = lines.all.filter { $0.level == "warning" || $0.level == "error" }
        #expect(warnings.count <= 3, "\(warnings.map(\.message))")
    }

    @Test("After the API recovers, the lock goes through and the recovery is logged once")
    func recoveryResetsBackoff() async throws {
        let queue = FailingQueue(Self.queuedContainers(1), failures: 4)
        let lines = LogLines()
        _ = try await Self.run(queue, seconds: 60, lines: lines)
        #expect(queue.locks == 5)
        #expect(await queue.schedulingSnapshot().entries.first?.container.state == .locked)
        let recovered = lines.all.filter { $0.message == "Queue call lock succeeded after failing" }
        #expect(recovered.count == 1)
        #expect(recovered.first?.metadata["failures"] == "3")
    }
}
