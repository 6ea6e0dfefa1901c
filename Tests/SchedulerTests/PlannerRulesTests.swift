import DispatchModel
import Scheduler
import Testing

/// Rules of reference §3.4 and §3.7 beyond the Go cases: statuses, the dynamic limit, capacity scopes.
@Suite("Planner rules")
struct PlannerRulesTests {
    static let gib: Int64 = 1 << 30

    @Test(
        "Scheduling statuses are worded exactly as Arvados's",
        arguments: [
            (
                SchedulingStatus.preparingRuntimeEnvironment,
                "Container is allocated to an instance and preparing to run."
            ),
            (
                .priorityZero(.locked),
                "This container will not be scheduled to run because its priority is 0 and state is Locked."
            ),
            (
                .supervisorLimitReached(position: 2),
                "Waiting in workflow queue at position 2.  Cluster is at capacity and cannot start any new workflows right now."
            ),
            (.waitingForPreviousAttempt, "Waiting for previous container attempt to exit."),
            (.waitingForNewInstance("type4"), "Waiting for a type4 instance to boot and be ready to accept work."),
            (
                .waitingForInstanceType(position: 3, eligible: ["type2", "type3"]),
                "Waiting in queue at position 3.  Cluster is at capacity for all eligible instance types (type2, type3) "
                    + "and cannot start a new instance right now."
            ),
            (
                .waitingForCloudResources(position: 1),
                "Waiting in queue at position 1.  Cluster is at cloud account limits and cannot start any new instances right now."
            ),
            (
                .waitingForMaxInstances(position: 2, limit: 64),
                "Waiting in queue at position 2.  Cluster has reached its configured MaxInstances (64) and cannot "
                    + "start any new instances right now."
            ),
            (
                .waitingForClusterCapacity(position: 4),
                "Waiting in queue at position 4.  Cluster is at capacity and cannot start any new instances right now."
            ),
        ]
    )
    func statusWording(status: SchedulingStatus, expected: String) {
        #expect(status.description == expected)
    }

    @Test("Priority-0 containers are never locked and say so; the rest wait in numbered positions")
    func priorityZeroAndPositions() {
        let containers = [
            container(1, priority: 0, state: .queued, vcpus: 1, ram: Self.gib),
            container(2, priority: 5, state: .queued, vcpus: 1, ram: Self.gib),
            container(3, priority: 4, state: .queued, vcpus: 1, ram: Self.gib),
        ]
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxInstances = 1
        var harness = Harness(
            queue: StubQueue(containers, chooser: .suite()),
            pool: StubPool(quota: 1000, canCreate: 10),
            configuration: configuration
        )
        let plan = harness.runPass()
        // Container 2 gets an instance first; it is locked once the instance exists.
        #expect(plan.actions.count == 2)
        #expect(plan.actions.first.map { if case .create = $0 { true } else { false } } == true, "\(plan.actions)")
        #expect(plan.actions.last == .forget(containerUUID(1)))
        #expect(
            plan.queue.map(\.uuid) == [containerUUID(2), containerUUID(3), containerUUID(1)]
        )
        #expect(
            harness.status(of: containerUUID(1))
                == "This container will not be scheduled to run because its priority is 0 and state is Queued."
        )
        // Container 2 waits for its instance; container 3 is over the limit of one.
        #expect(
            harness.status(of: containerUUID(2)) == "Waiting for a type1 instance to boot and be ready to accept work."
        )
        #expect(
            harness.status(of: containerUUID(3))
                == "Waiting in queue at position 1.  Cluster is at capacity and cannot start any new instances right now."
        )
    }

    @Test("Running first, then Locked, then priority, then first seen")
    func queueOrder() {
        let containers = [
            container(1, priority: 9, state: .queued, vcpus: 1, ram: Self.gib),
            container(2, priority: 1, state: .locked, vcpus: 1, ram: Self.gib),
            container(3, priority: 5, state: .queued, vcpus: 1, ram: Self.gib),
            container(4, priority: 5, state: .queued, vcpus: 1, ram: Self.gib),
            container(5, priority: 1, state: .locked, vcpus: 1, ram: Self.gib),
        ]
        var pool = StubPool(quota: 1000, canCreate: 1)
        pool.create(instanceType(1))
        pool.bootAllInstances()
        pool.startContainer(containerUUID(5), on: "i-0000001")
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool)
        let plan = harness.runPass()
        #expect(plan.queue.map(\.uuid) == [5, 2, 1, 3, 4].map(containerUUID))
        #expect(harness.status(of: containerUUID(5)) == "Container is allocated to an instance and preparing to run.")
    }

    @Test("A new 503 drops the limit to one below the running count; quiet growth resumes a minute later")
    func dynamicLimitAfter503() {
        let containers = (1...10).map {
            container($0, priority: $0, state: $0 <= 4 ? .locked : .queued, vcpus: 1, ram: Self.gib)
        }
        var pool = StubPool(quota: 1000, canCreate: 100)
        for _ in 0..<4 { pool.create(instanceType(1)) }
        pool.bootAllInstances()
        for i in 1...4 { pool.startContainer(containerUUID(i), on: pool.workers[i - 1].id) }
        pool.last503At = testNow.addingSeconds(-5)
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxInstances = 0
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool, configuration: configuration)
        // Unlimited until the 503 is seen.
        var plan = harness.runPass()
        #expect(plan.metrics.maxConcurrentContainers == 3)
        #expect(plan.metrics.last503Time == Double(testNow.secondsSince1970 - 5))
        #expect(!plan.actions.contains { if case .lock = $0 { true } else { false } })

        // Within the quiet period, nothing grows.
        plan = harness.runPass(now: testNow.addingSeconds(30))
        #expect(plan.metrics.maxConcurrentContainers == 3)

        // After it, the limit grows to 10 % above the load plus one: 4 × 11 / 10 + 1 = 5.
        plan = harness.runPass(now: testNow.addingSeconds(61))
        #expect(plan.metrics.maxConcurrentContainers == 5)
        // One more container is taken on: an instance is created for it (it is locked once that exists).
        #expect(plan.actions.filter { if case .create = $0 { true } else { false } }.count == 1)
        #expect(!plan.actions.contains { if case .lock = $0 { true } else { false } })
    }

    @Test(
        "InitialQuotaEstimate sets the first limit, and MaxInstances does when it is 0",
        arguments: [(0, 10), (3, 3)]
    )
    func initialLimit(estimate: Int, expected: Int) {
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.initialQuotaEstimate = estimate
        #expect(SchedulingPlanner(configuration: configuration).state.maxContainers == expected)
    }

    /// Arvados sets the limit to the instance count at quota (reference §9.4 item 5); here it is the number of
    /// containers the instances can hold: VCPUs each (a container needs at least one), capped by
    /// `MaxRunningContainersPerInstance`. With one container per instance the limit is Arvados's.
    @Test(
        "At quota the limit drops to what the instances can hold, then stays within one of the known-good level",
        arguments: [
            // (MaxRunningContainersPerInstance, limit at quota, limit once the quota lifts)
            (1, 2, 3),  // Arvados's figures: two instances; load growth alone would allow 4 × 11 / 10 + 1 = 5
            (3, 6, 6),  // two instances of three slots; growth (5) is below the level reached
            (0, 8, 8),  // two 4-VCPU instances, no per-instance cap
        ]
    )
    func quotaCeiling(perInstance: Int, atQuota: Int, afterQuota: Int) {
        let containers = (1...8).map { container($0, priority: $0, vcpus: 1, ram: Self.gib) }
        var pool = StubPool(quota: 2, canCreate: 100)
        pool.create(instanceType(4))
        pool.create(instanceType(4))
        pool.bootAllInstances()
        for i in 1...4 { pool.startContainer(containerUUID(i), on: pool.workers[i % 2].id) }
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxRunningContainersPerInstance = perInstance
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool, configuration: configuration)
        var plan = harness.runPass()
        #expect(plan.metrics.maxConcurrentContainers == atQuota)
        #expect(plan.metrics.atQuota)
        #expect(harness.planner.state.instancesWithinQuota == 2)
        #expect(harness.planner.state.slotsWithinQuota == atQuota)

        harness.pool.quota = 1000
        plan = harness.runPass(now: testNow.addingSeconds(120))
        #expect(plan.metrics.maxConcurrentContainers == afterQuota)
        #expect(!plan.metrics.atQuota)
    }

    @Test("With no instances at all, every over-quota container is unlocked, the next in line included")
    func unlockAllWithoutInstances() {
        let containers = [
            container(1, priority: 2, vcpus: 1, ram: Self.gib),
            container(2, priority: 1, vcpus: 1, ram: Self.gib),
        ]
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: StubPool())
        let plan = harness.runPass()
        #expect(
            plan.actions == [
                .unlock(containerUUID(1), reason: "pool capacity is used by higher priority containers"),
                .unlock(containerUUID(2), reason: "pool capacity is used by higher priority containers"),
            ]
        )
        #expect(plan.metrics.containersNotAllocatedOverQuota == 2)
        #expect(
            harness.status(of: containerUUID(2))
                == "Waiting in queue at position 2.  Cluster is at cloud account limits and cannot start any new instances right now."
        )
    }

    @Test("MaxInstances reached is our limit, not the provider's: its own status and gauge, at_quota stays 0")
    func maxInstancesNamed() {
        let containers = (1...4).map { container($0, priority: 5 - $0, vcpus: 4, ram: Self.gib) }
        var pool = StubPool(quota: 100, canCreate: 100)
        pool.maxInstances = 2
        pool.create(instanceType(4))
        pool.create(instanceType(4))
        pool.bootAllInstances()
        for i in 1...2 { pool.startContainer(containerUUID(i), on: pool.workers[i - 1].id) }
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool)
        var plan = harness.runPass()
        #expect(plan.metrics.atMaxInstances)
        #expect(!plan.metrics.atQuota)
        #expect(
            harness.status(of: containerUUID(4))
                == "Waiting in queue at position 2.  Cluster has reached its configured MaxInstances (2) and cannot "
                + "start any new instances right now."
        )
        // The provider's quota (below MaxInstances) is at_quota and worded as the cloud's.
        harness.pool.maxInstances = 10
        harness.pool.quota = 2
        plan = harness.runPass(now: testNow.addingSeconds(60))
        #expect(plan.metrics.atQuota)
        #expect(!plan.metrics.atMaxInstances)
        #expect(harness.status(of: containerUUID(4))?.contains("cloud account limits") == true)
    }

    @Test("No more creates than the pool's budget; the rest go to the create backlog, in queue order")
    func createBudget() {
        // Highest priority first: the 4-VCPU container, then the 2-VCPU one, then the 1-VCPU one.
        let containers = [1, 2, 4].map { container($0, priority: $0, state: .queued, vcpus: $0, ram: Self.gib) }
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: StubPool(quota: 100, canCreate: 1))
        let plan = harness.runPass()
        #expect(plan.actions == [.create(instanceType(4))])
        #expect(plan.createBacklog == [instanceType(2), instanceType(1)])
        // As in Arvados, a container whose create the pool has not taken is not counted as allocated.
        #expect(plan.metrics.containersAllocatedNotStarted == 1)
        #expect(harness.status(of: containerUUID(2))?.contains("Waiting for a type2 instance to boot") == true)

        // Without a budget, every create is an action and the backlog is empty.
        var unlimited = Harness(queue: StubQueue(containers, chooser: .suite()), pool: StubPool(quota: 100))
        unlimited.pool.canCreate = 100
        let free = unlimited.runPass()
        #expect(free.actions == [.create(instanceType(4)), .create(instanceType(2)), .create(instanceType(1))])
        #expect(free.createBacklog.isEmpty)
    }

    @Test("The create backlog counts against MaxInstances as creates do")
    func createBacklogWithinMaxInstances() {
        let containers = (1...5).map { container($0, priority: $0, state: .queued, vcpus: 1, ram: Self.gib) }
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxInstances = 3
        var pool = StubPool(quota: 100, canCreate: 1)
        pool.maxInstances = 3
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool, configuration: configuration)
        let plan = harness.runPass()
        #expect(plan.actions == [.create(instanceType(1))])
        #expect(plan.createBacklog == [instanceType(1), instanceType(1)])
        #expect(plan.metrics.atMaxInstances)
    }

    @Test("A positive SupervisorFraction allows at least one supervisor")
    func atLeastOneSupervisor() {
        let containers = (1...2).map { container($0, priority: $0, vcpus: 1, ram: Self.gib, supervisor: true) }
        var pool = StubPool(quota: 100, canCreate: 2)
        pool.create(instanceType(1))
        pool.create(instanceType(1))
        pool.bootAllInstances()
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxInstances = 3  // 3 × 0.2 rounds down to 0
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool, configuration: configuration)
        let plan = harness.runPass()
        #expect(harness.pool.starts == [containerUUID(2)])
        #expect(
            plan.actions.contains(
                .unlock(containerUUID(1), reason: "pool capacity is used by higher priority containers")
            )
        )
    }

    static let type4 = instanceType(4)

    @Test(
        "Capacity holds apply by provider type or to everything",
        arguments: [
            (CapacityScope.all, true),
            (.instanceType(providerType: "providertype4", preemptible: false), true),
            (.instanceType(providerType: "providertype4", preemptible: true), false),
            (.instanceType(providerType: "providertype5", preemptible: false), false),
        ]
    )
    func capacityScopes(hold: CapacityScope, atCapacity: Bool) {
        let pool = PoolSnapshot(capacityHolds: [hold])
        #expect(pool.isAtCapacity(Self.type4) == atCapacity)
    }

    @Test("Shutdowns at quota skip held, running and unknown instances")
    func shutdownAtQuotaSkipsHeld() {
        let containers = [container(1, priority: 1, vcpus: 3, ram: 3 * Self.gib)]
        var pool = StubPool(quota: 4, canCreate: 4)
        for _ in 0..<4 { pool.create(instanceType(1)) }
        pool.bootAllInstances()
        pool.workers[1].idleBehavior = .hold
        pool.workers[2].state = .unknown
        pool.startContainer(containerUUID(9), on: pool.workers[3].id)
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool)
        let plan = harness.runPass()
        #expect(plan.actions.filter { if case .shutdown = $0 { true } else { false } } == [.shutdown("i-0000001")])
    }
}
