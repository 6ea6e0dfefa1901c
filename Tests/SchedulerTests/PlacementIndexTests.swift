import DispatchModel
import Scheduler
import Testing

/// Placement choices that depend on the instance index: busier first, ready first, the failure memo.
@Suite("Placement index")
struct PlacementIndexTests {
    static let gib: Int64 = 1 << 30
    static let mib256: Int64 = 1 << 28

    /// A menu with type 4 only, so every container is eligible for exactly one type.
    static let type4Only = InstanceTypeChooser(
        types: [instanceType(4)],
        maximumPriceFactor: 0,
        reserveExtraRAM: .zero,
        localKeepBlobBuffersPerVCPU: 0
    )

    @Test("A busier instance is preferred to an emptier one earlier in instance order")
    func preferBusier() {
        let containers = [
            container(1, priority: 1, state: .running, vcpus: 1, ram: Self.mib256),
            container(2, priority: 2, vcpus: 1, ram: Self.mib256),
        ]
        var pool = StubPool(quota: 100, canCreate: 2)
        pool.create(instanceType(4))
        pool.create(instanceType(4))
        pool.bootAllInstances()
        pool.startContainer(containerUUID(1), on: "i-0000002")
        var harness = Harness(queue: StubQueue(containers, chooser: Self.type4Only), pool: pool)
        let plan = harness.runPass()
        #expect(plan.actions.contains(.start(containerUUID(2), on: "i-0000002")))
    }

    @Test("At equal load a ready instance is preferred to a booting one earlier in instance order")
    func preferReady() {
        var pool = StubPool(quota: 100, canCreate: 2)
        pool.create(instanceType(4))
        pool.create(instanceType(4))
        pool["i-0000002"].state = .idle
        var harness = Harness(
            queue: StubQueue([container(1, priority: 1, vcpus: 1, ram: Self.mib256)], chooser: Self.type4Only),
            pool: pool
        )
        let plan = harness.runPass()
        #expect(plan.actions == [.start(containerUUID(1), on: "i-0000002")])
    }

    @Test("A need that failed by RAM does not hide an instance from a smaller need with as many VCPUs")
    func failureMemoComparesEveryDimension() {
        let containers = [
            container(1, priority: 1, state: .running, vcpus: 1, ram: 3 * Self.gib),
            container(2, priority: 3, vcpus: 1, ram: 3 * Self.gib / 2),
            container(3, priority: 2, vcpus: 1, ram: Self.gib / 2),
        ]
        var pool = StubPool(quota: 100, canCreate: 2)
        pool.create(instanceType(4))
        pool.bootAllInstances()
        pool.startContainer(containerUUID(1), on: "i-0000001")
        var harness = Harness(queue: StubQueue(containers, chooser: Self.type4Only), pool: pool)
        let plan = harness.runPass()
        // Container 2 does not fit the RAM left on i-0000001 and gets a new instance; container 3 does.
        #expect(plan.actions.contains(.create(instanceType(4))))
        #expect(plan.actions.contains(.start(containerUUID(3), on: "i-0000001")))
    }

    @Test("An instance that joins a bucket is found by a need that failed there before")
    func joiningInstanceClearsFailure() {
        let containers = [
            container(1, priority: 1, state: .running, vcpus: 3, ram: Self.mib256),
            container(2, priority: 3, vcpus: 2, ram: Self.mib256),
            container(3, priority: 2, vcpus: 2, ram: Self.mib256),
        ]
        var pool = StubPool(quota: 100, canCreate: 2)
        pool.create(instanceType(4))
        pool.create(instanceType(4))
        pool.bootAllInstances()
        pool.startContainer(containerUUID(1), on: "i-0000001")
        var harness = Harness(queue: StubQueue(containers, chooser: Self.type4Only), pool: pool)
        let plan = harness.runPass()
        // Container 2 does not fit i-0000001 (one VCPU left) and goes to the empty i-0000002, which then
        // holds one container like i-0000001; container 3 must find it there.
        #expect(
            plan.actions == [.start(containerUUID(2), on: "i-0000002"), .start(containerUUID(3), on: "i-0000002")]
        )
    }

    @Test("Equal priorities go in first-seen order, whatever the snapshot order")
    func firstSeenOrder() {
        let entries = (1...3).map { i in
            QueueEntry(
                container: container(i, priority: 7, state: .queued, vcpus: 1, ram: Self.mib256),
                instanceTypes: [instanceType(4)],
                resources: InstanceResources(vcpus: 1, ram: .giB(1)),
                firstSeenAt: testNow.addingSeconds(-i)
            )
        }
        var planner = SchedulingPlanner(configuration: .suite)
        let plan = planner.plan(queue: QueueSnapshot(entries: entries, updatedAt: testNow), pool: .init(), now: testNow)
        #expect(plan.queue.map(\.uuid) == [3, 2, 1].map(containerUUID))
    }
}
