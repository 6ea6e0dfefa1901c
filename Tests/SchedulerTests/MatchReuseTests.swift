import DispatchModel
import Testing

@testable import Scheduler

/// A pass after a change of the queue alone reuses what the last pass read from the same pool version, and plans
/// exactly as a pass that reads the pool afresh.
@Suite("Runner match reuse")
struct MatchReuseTests {
    static let chooser = InstanceTypeChooser.suite()

    static func entry(_ container: Container) throws -> QueueEntry {
        QueueEntry(
            container: container,
            instanceTypes: try Self.chooser.eligibleTypes(for: container),
            resources: Self.chooser.resourcesNeeded(for: container),
            firstSeenAt: testNow
        )
    }

    /// Instances 1…6, each running container i (a runner each), and two spare idle instances; version 7.
    static func pool() -> PoolSnapshot {
        var instances: [InstanceSnapshot] = (1...6).map { i in
            InstanceSnapshot(
                id: InstanceID(rawValue: "i-\(i)"),
                type: instanceType(2),
                state: .running,
                runningContainers: [containerUUID(i)]
            )
        }
        instances += (7...8).map {
            InstanceSnapshot(id: InstanceID(rawValue: "i-\($0)"), type: instanceType(2), state: .idle)
        }
        var runners: [ContainerUUID: PoolSnapshot.Runner] = [:]
        for i in 1...6 { runners[containerUUID(i)] = PoolSnapshot.Runner() }
        runners[containerUUID(40)] = PoolSnapshot.Runner()  // a runner whose container is not in the queue
        return PoolSnapshot(instances: instances, runners: runners, maxInstances: 20, version: 7)
    }

    @Test("Queue-only changes: the pool read is reused, and every plan equals a fresh planner's")
    func reusedReadPlansAsFresh() throws {
        let pool = Self.pool()
        var planner = SchedulingPlanner(configuration: SchedulingPlanner.Configuration())
        // Queues over the same pool: entries reordered, added, cancelled and gone between passes.
        let queues: [[Container]] = [
            (1...6).map { container($0, priority: 10, state: .running, vcpus: 1, ram: 1 << 30) }
                + [container(20, priority: 5, state: .queued, vcpus: 1, ram: 1 << 30)],
            [container(20, priority: 5, state: .locked, vcpus: 1, ram: 1 << 30)]
                + (1...6).reversed().map { container($0, priority: 10, state: .running, vcpus: 1, ram: 1 << 30) },
            [container(3, priority: 10, state: .cancelled, vcpus: 1, ram: 1 << 30)]
                + [1, 2, 4, 5].map { container($0, priority: 10, state: .running, vcpus: 1, ram: 1 << 30) }
                + [container(21, priority: 9, state: .queued, vcpus: 1, ram: 1 << 30)]
                + [container(40, priority: 10, state: .running, vcpus: 1, ram: 1 << 30)],
        ]
        for (index, containers) in queues.enumerated() {
            let queue = QueueSnapshot(
                entries: try containers.map(Self.entry),
                updatedAt: testNow,
                version: UInt64(index)
            )
            if index > 0 { #expect(planner.matchPoolPart?.version == 7, "the last pass's read is kept") }
            var fresh = planner
            fresh.matchPoolPart = nil
            let reused = planner.plan(queue: queue, pool: pool, now: testNow)
            let expected = fresh.plan(queue: queue, pool: pool, now: testNow)
            #expect(reused.actions == expected.actions, "pass \(index)")
            #expect(Array(reused.queue) == Array(expected.queue), "pass \(index)")
        }
    }
}
