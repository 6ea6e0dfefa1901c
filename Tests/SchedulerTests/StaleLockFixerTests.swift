import DispatchModel
import Scheduler
import Testing

/// The stale-lock fixer of reference §2.8 step 4 (`fix_stale_locks.go`).
@Suite("Stale locks")
struct StaleLockFixerTests {
    static let locked = containerUUID(1)
    static let running = containerUUID(2)

    static var queue: QueueSnapshot {
        let entries = [
            container(1, priority: 1, state: .locked, vcpus: 1, ram: 1 << 30),
            container(2, priority: 1, state: .locked, vcpus: 1, ram: 1 << 30),
            container(3, priority: 1, state: .queued, vcpus: 1, ram: 1 << 30),
        ].map {
            QueueEntry(
                container: $0,
                instanceTypes: [instanceType(1)],
                resources: .init(vcpus: 1),
                firstSeenAt: testNow
            )
        }
        return QueueSnapshot(entries: entries, updatedAt: testNow)
    }

    static func pool(unknownWorkers: Bool, runners: [ContainerUUID] = [running]) -> PoolSnapshot {
        PoolSnapshot(
            instances: [InstanceSnapshot(id: "i-1", type: instanceType(1), state: unknownWorkers ? .unknown : .idle)],
            runners: Dictionary(uniqueKeysWithValues: runners.map { ($0, PoolSnapshot.Runner()) })
        )
    }

    @Test("With no unknown worker at the first look, nothing is unlocked")
    func noUnknownWorkers() {
        var fixer = StaleLockFixer()
        #expect(fixer.evaluate(queue: Self.queue, pool: Self.pool(unknownWorkers: false), timedOut: false) == .done)
    }

    @Test("While workers are unknown, unexplained locks wait; once every lock has a runner, nothing is unlocked")
    func locksExplainedByRunners() {
        var fixer = StaleLockFixer()
        #expect(
            fixer.evaluate(queue: Self.queue, pool: Self.pool(unknownWorkers: true), timedOut: false) == .keepWaiting
        )
        let pool = Self.pool(unknownWorkers: true, runners: [Self.locked, Self.running])
        #expect(fixer.evaluate(queue: Self.queue, pool: pool, timedOut: false) == .done)
    }

    @Test("Once the last unknown worker is probed, the locks still without a runner are unlocked")
    func unlockAfterProbes() {
        var fixer = StaleLockFixer()
        _ = fixer.evaluate(queue: Self.queue, pool: Self.pool(unknownWorkers: true), timedOut: false)
        #expect(
            fixer.evaluate(queue: Self.queue, pool: Self.pool(unknownWorkers: false), timedOut: false)
                == .unlock([Self.locked])
        )
    }

    @Test("On timeout, the locks still without a runner are unlocked even with unknown workers")
    func unlockOnTimeout() {
        var fixer = StaleLockFixer()
        _ = fixer.evaluate(queue: Self.queue, pool: Self.pool(unknownWorkers: true), timedOut: false)
        #expect(
            fixer.evaluate(queue: Self.queue, pool: Self.pool(unknownWorkers: true), timedOut: true)
                == .unlock([Self.locked])
        )
    }
}
