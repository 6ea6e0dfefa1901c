import CloudDriverSimulated
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

/// A pass over the same instances as the last one (the same IDs and types, in the same order) starts from the last
/// pass's placement index, with only the instances that changed computed again, and plans exactly as a pass that
/// builds the index afresh.
@Suite("Placement index reuse")
struct PlacementIndexReuseTests {
    /// The world of the walk: eight instances (two types), a create in flight now and then, containers 1…16 on them
    /// or in the queue in every state, runners that exit and finish.
    struct World {
        var states: [WorkerState] = Array(repeating: .booting, count: 8)
        var behaviors: [IdleBehavior] = Array(repeating: .run, count: 8)
        /// The containers on each instance.
        var placed: [[Int]] = Array(repeating: [], count: 8)
        var exited: Set<Int> = []
        var finishing: Set<Int> = []
        var queueStates: [Int: ContainerState] = [:]
        var pendingCreate = false
        var extraInstance = false

        mutating func step(_ walk: inout SeededRandomNumberGenerator) {
            for _ in 0..<Int.random(in: 1...3, using: &walk) {
                let i = Int.random(in: 0..<8, using: &walk)
                switch Int.random(in: 0..<10, using: &walk) {
                case 0...2:
                    self.states[i] = [.booting, .idle, .running, .unknown].randomElement(using: &walk)!
                case 3:
                    self.behaviors[i] = [.run, .run, .hold, .drain].randomElement(using: &walk)!
                case 4...5:
                    let c = Int.random(in: 1...16, using: &walk)
                    if !self.placed.contains(where: { $0.contains(c) }) {
                        self.placed[i].append(c)
                        self.placed[i].sort()
                    }
                case 6:
                    if let c = self.placed[i].randomElement(using: &walk) {
                        if Bool.random(using: &walk) { self.exited.insert(c) } else { self.finishing.insert(c) }
                    }
                case 7:
                    if let c = self.placed[i].randomElement(using: &walk) {
                        self.placed[i].removeAll { $0 == c }
                        self.exited.remove(c)
                        self.finishing.remove(c)
                    }
                case 8:
                    self.pendingCreate.toggle()
                default:
                    if Int.random(in: 0..<4, using: &walk) == 0 { self.extraInstance.toggle() }
                }
            }
            for _ in 0..<Int.random(in: 0...3, using: &walk) {
                let c = Int.random(in: 1...16, using: &walk)
                self.queueStates[c] =
                    [nil, .queued, .locked, .running, .complete, .cancelled].randomElement(using: &walk)!
            }
        }

        var pool: PoolSnapshot {
            var instances: [InstanceSnapshot] = []
            if self.pendingCreate {
                instances.append(InstanceSnapshot(id: nil, type: instanceType(2), state: .booting))
            }
            for i in 0..<(self.extraInstance ? 9 : 8) {
                let known = i < 8
                instances.append(
                    InstanceSnapshot(
                        id: InstanceID(rawValue: "i-\(i)"),
                        type: instanceType(i % 2 == 0 ? 2 : 4),
                        state: known ? self.states[i] : .idle,
                        idleBehavior: known ? self.behaviors[i] : .run,
                        runningContainers: known ? self.placed[i].map(containerUUID) : []
                    )
                )
            }
            var runners: [ContainerUUID: PoolSnapshot.Runner] = [:]
            for c in self.placed.joined() {
                runners[containerUUID(c)] = PoolSnapshot.Runner(
                    exitedAt: self.exited.contains(c) ? testNow.advanced(by: .seconds(-5)) : nil,
                    finishing: self.finishing.contains(c)
                )
            }
            return PoolSnapshot(instances: instances, runners: runners, maxInstances: 12)
        }

        func queue() throws -> QueueSnapshot {
            let entries = try self.queueStates.keys.sorted().compactMap { c -> QueueEntry? in
                guard let state = self.queueStates[c] else { return nil }
                return try MatchReuseTests.entry(
                    container(c, priority: 1 + c % 5, state: state, vcpus: 1 + c % 2, ram: Int64(1 + c % 3) << 29)
                )
            }
            return QueueSnapshot(entries: entries, updatedAt: testNow, version: nil)
        }
    }

    @Test("Random changes of the pool and queue: every plan equals a fresh planner's, and most reuse the last index")
    func randomWalkPlansAsFresh() throws {
        var walk = SeededRandomNumberGenerator(seed: 18)
        var world = World()
        var planner = SchedulingPlanner(configuration: SchedulingPlanner.Configuration())
        var patched = 0
        let passes = 300
        for pass in 0..<passes {
            world.step(&walk)
            let queue = try world.queue()
            let pool = world.pool
            var fresh = planner
            fresh.placementBase = nil
            fresh.orderMemo = nil
            fresh.matchPoolPart = nil
            let reused = planner.plan(queue: queue, pool: pool, now: testNow)
            let expected = fresh.plan(queue: queue, pool: pool, now: testNow)
            #expect(reused.actions == expected.actions, "pass \(pass)")
            #expect(Array(reused.queue) == Array(expected.queue), "pass \(pass)")
            if planner.placementBase?.patched == true { patched += 1 }
        }
        // The instances stay the same between most passes (a create or the ninth instance comes or goes at the rest).
        #expect(patched > passes / 2)
        #expect(patched < passes)
    }
}
