import DispatchModel
import DispatchTestSupport
import Testing

@testable import Scheduler

/// The placement index orders instances by type, then ID, whatever order the pool lists them in (the pool lists
/// them by ID, which the index takes without sorting; any other order is sorted).
@Suite("Placement order")
struct PlacementOrderTests {
    @Test("A pass plans the same over instances listed by ID and listed in any other order (200 random pools)")
    func sameWhateverTheListOrder() {
        let start = UInt64.random(in: 0...UInt64.max)
        var random = FuzzRandom(seed: start)
        func next(_ bound: Int) -> Int { Int.random(in: 0..<bound, using: &random) }
        let gib: Int64 = 1 << 30
        var placed = 0
        for _ in 0..<200 {
            var pool = StubPool(quota: 1000, canCreate: 100)
            let workers = 1 + next(40)
            for n in 0..<workers {
                let state: WorkerState = [.idle, .running, .booting, .idle][next(4)]
                pool.workers.append(
                    .init(
                        id: InstanceID(rawValue: "i-\(1000 + n * 7 % 997)"),
                        type: instanceType(1 + next(4)),
                        state: state
                    )
                )
            }
            pool.workers.sort { $0.id.rawValue < $1.id.rawValue }
            var containers: [Container] = []
            for i in 1...(1 + next(60)) {
                containers.append(container(i, priority: 1 + next(5), state: .locked, vcpus: 1 + next(2), ram: gib))
            }
            for (index, worker) in pool.workers.enumerated() where worker.state == .running && !containers.isEmpty {
                let uuid = containers[index % containers.count].uuid
                if pool.running[uuid] == nil { _ = pool.startContainer(uuid, on: worker.id) }
            }
            let queue = StubQueue(containers, chooser: .suite()).snapshot
            let byID = pool.snapshot
            var shuffled = byID
            shuffled.instances.shuffle(using: &random)
            var first = SchedulingPlanner(configuration: .suite)
            var second = SchedulingPlanner(configuration: .suite)
            let a = first.plan(queue: queue, pool: byID, now: testNow)
            let b = second.plan(queue: queue, pool: shuffled, now: testNow)
            #expect(a.actions == b.actions, "seed \(start)")
            placed += a.actions.count { if case .start = $0 { true } else { false } }
        }
        #expect(placed > 100, "the pools placed containers (seed \(start))")
    }
}
