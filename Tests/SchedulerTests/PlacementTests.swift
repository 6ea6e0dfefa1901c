import DispatchModel
import Scheduler
import Testing

/// The scheduler cases of Arvados's `scheduler/run_queue_test.go` (reference §3.8), one test each.
@Suite("Placement")
struct PlacementTests {
    static let gib: Int64 = 1 << 30

    /// Four Locked 1-VCPU containers with priorities 1…4.
    static func fourSmallContainers() -> [Container] {
        (1...4).map { container($0, priority: $0, vcpus: 1, ram: Self.gib) }
    }

    /// `setupTestPackContainers`: types 2…16 within a 1.5 price factor, four 1-VCPU containers.
    static func packingHarness(configuration: SchedulingPlanner.Configuration = .suite) -> Harness {
        Harness(
            queue: StubQueue(Self.fourSmallContainers(), chooser: .suite(removing: [1], maximumPriceFactor: 1.5)),
            pool: StubPool(quota: 999, canCreate: 999),
            configuration: configuration
        )
    }

    // TestUseIdleWorkers
    @Test("The highest priority goes to the idle worker; new instances are created for the rest")
    func useIdleWorkers() {
        var pool = StubPool(quota: 1000, canCreate: 6)
        pool.create(instanceType(1))
        pool.create(instanceType(2))
        pool.create(instanceType(2))
        pool.bootAllInstances()
        var harness = Harness(queue: StubQueue(Self.fourSmallContainers(), chooser: .suite()), pool: pool)
        harness.runPass()
        #expect(harness.pool.creates == [1, 2, 2, 1, 1, 1].map(instanceType))
        #expect(harness.pool.starts == [containerUUID(4)])
        #expect(Array(harness.pool.running.keys) == [containerUUID(4)])
    }

    // TestPackContainers_NewInstance
    @Test("Two containers are packed on each new type-2 instance")
    func packOnNewInstances() {
        var harness = Self.packingHarness()
        harness.runPass()
        #expect(harness.pool.creates == [instanceType(2), instanceType(2)])
        #expect(harness.pool.starts.isEmpty)
    }

    // TestPackContainers_IdleInstance
    @Test("An idle type-3 instance within the price factor takes three containers")
    func packOnIdleInstance() {
        var harness = Self.packingHarness()
        harness.pool.create(instanceType(3))
        harness.pool.bootAllInstances()
        harness.runPass()
        #expect(harness.pool.creates == [instanceType(3), instanceType(2)])
        #expect(harness.pool.starts == [containerUUID(4), containerUUID(3), containerUUID(2)])
    }

    // TestPackContainers_IdleInstance_TooBig
    @Test("An idle instance beyond the price factor is not used")
    func idleInstanceTooBig() {
        var harness = Self.packingHarness()
        harness.pool.create(instanceType(4))
        harness.pool.bootAllInstances()
        harness.runPass()
        #expect(harness.pool.creates == [instanceType(4), instanceType(2), instanceType(2)])
        #expect(harness.pool.starts.isEmpty)
    }

    // TestPackContainers_SpareResources
    @Test("A running instance with spare room takes two more containers")
    func packOnSpareResources() {
        var harness = Self.packingHarness()
        harness.pool.create(instanceType(3))
        harness.pool.bootAllInstances()
        harness.pool.startContainer(containerUUID(4), on: harness.pool.workers[0].id)
        harness.queue.containers[3].state = .running
        harness.queue.update()
        harness.runPass()
        #expect(harness.pool.creates == [instanceType(3), instanceType(2)])
        #expect(harness.pool.starts == [containerUUID(4), containerUUID(3), containerUUID(2)])
    }

    // TestPackContainers_IdleBehaviorHold
    @Test("Spare room on a held instance is not used")
    func heldInstanceNotPacked() {
        var harness = Self.packingHarness()
        harness.pool.create(instanceType(3))
        harness.pool.bootAllInstances()
        harness.pool.workers[0].idleBehavior = .hold
        // Refused (the instance is on hold) but recorded, as in Go.
        harness.pool.startContainer(containerUUID(4), on: harness.pool.workers[0].id)
        harness.runPass()
        #expect(harness.pool.creates == [instanceType(3), instanceType(2), instanceType(2)])
        #expect(harness.pool.starts == [containerUUID(4)])
    }

    // TestPackContainers_DisabledInConfig
    @Test("MaxRunningContainersPerInstance 1 puts one container on each instance")
    func packingDisabled() {
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxRunningContainersPerInstance = 1
        var harness = Self.packingHarness(configuration: configuration)
        harness.pool.create(instanceType(2))
        harness.pool.bootAllInstances()
        harness.runPass()
        #expect(harness.pool.creates == [2, 2, 2, 2].map(instanceType))
        #expect(harness.pool.starts == [containerUUID(4)])
    }

    // TestPackContainers_LimitedInConfig (reconstructed from reference §3.8: the stored Go file predates it)
    @Test("MaxRunningContainersPerInstance 2 spreads three type-8 containers over two instances")
    func packingLimited() {
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxRunningContainersPerInstance = 2
        let containers = [
            container(1, priority: 1, vcpus: 1, ram: 5 * Self.gib),
            container(2, priority: 2, vcpus: 5, ram: Self.gib),
            container(3, priority: 3, vcpus: 1, ram: Self.gib, keepCacheDisk: 5 * Self.gib),
        ]
        var harness = Harness(
            queue: StubQueue(containers, chooser: .suite(removing: [3, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15])),
            pool: StubPool(quota: 999, canCreate: 999),
            configuration: configuration
        )
        harness.runPass()
        #expect(harness.pool.creates == [instanceType(8), instanceType(8)])
        harness.pool.bootAllInstances()
        harness.runPass()
        #expect(harness.pool.workers.map(\.running) == [[containerUUID(3), containerUUID(2)], [containerUUID(1)]])
    }

    // TestPackContainers_InstanceStateUnknown
    @Test("Unknown and booting instances get allocations but no starts until they are idle")
    func packOnUnknownInstance() {
        var harness = Self.packingHarness()
        harness.pool.create(instanceType(2))
        harness.pool.workers[0].state = .unknown
        harness.runPass()
        #expect(harness.pool.creates.count == 2)
        #expect(harness.pool.starts.isEmpty)

        // i-0000002 is booting: still nothing to start.
        harness.runPass()
        #expect(harness.pool.creates.count == 2)
        #expect(harness.pool.starts.isEmpty)

        harness.pool["i-0000002"].state = .idle
        harness.runPass()
        #expect(harness.pool.creates.count == 2)
        #expect(harness.pool.starts == [containerUUID(4), containerUUID(3)])
    }

    // TestPackContainers_Resources
    @Test("CPU-, RAM-, scratch- and 0-VCPU containers pack onto type-1, type-8 and type-16 instances")
    func packByResources() {
        let mib128: Int64 = 1 << 27
        var containers = [
            container(1, priority: 1, vcpus: 1, ram: 5 * Self.gib),
            container(2, priority: 2, vcpus: 5, ram: Self.gib),
            container(3, priority: 3, vcpus: 1, ram: Self.gib, keepCacheDisk: 5 * Self.gib),
            container(4, priority: 4, vcpus: 9, ram: Self.gib),
        ]
        containers += (5...8).map { container($0, priority: $0, vcpus: 0, ram: mib128, keepCacheDisk: mib128) }
        var harness = Harness(
            queue: StubQueue(containers, chooser: .suite(removing: [3, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15])),
            pool: StubPool(quota: 999, canCreate: 999)
        )
        harness.runPass()
        #expect(harness.pool.creates == [instanceType(1), instanceType(16), instanceType(8)])
        #expect(harness.pool.starts.isEmpty)
        harness.pool.bootAllInstances()
        harness.runPass()
        let running = Dictionary(uniqueKeysWithValues: harness.pool.workers.map { ($0.type.name.rawValue, $0.running) })
        #expect(running["type1"] == [8, 7, 6, 5].map(containerUUID))
        #expect(running["type8"] == [3, 2, 1].map(containerUUID))
        #expect(running["type16"] == [containerUUID(4)])
        #expect(running.count == 3)
    }

    // TestPackContainers_0VCPUs
    @Test("0-VCPU containers share one VCPU; an N-VCPU container gets an N-VCPU instance to itself")
    func packZeroVCPUContainers() {
        let mib128: Int64 = 1 << 27
        let containers =
            [container(1, priority: 1, vcpus: 1, ram: mib128, keepCacheDisk: mib128)]
            + (2...5).map { container($0, priority: $0, vcpus: 0, ram: mib128, keepCacheDisk: mib128) }
            + [container(6, priority: 6, vcpus: 2, ram: mib128, keepCacheDisk: mib128)]
        var harness = Harness(
            queue: StubQueue(containers, chooser: .suite(removing: [1])),
            pool: StubPool(quota: 999, canCreate: 999)
        )
        harness.runPass()
        #expect(harness.pool.creates == [instanceType(2), instanceType(2)])
        #expect(harness.pool.starts.isEmpty)
        harness.pool.bootAllInstances()
        harness.runPass()
        #expect(harness.pool.workers.count == 2)
        #expect(harness.pool["i-0000001"].running == [containerUUID(6)])
        #expect(harness.pool["i-0000002"].running == [5, 4, 3, 2, 1].map(containerUUID))
    }

    // TestShutdownAtQuota, with one difference from Arvados: a Locked container behind the one the quota stops keeps
    // the instance it fits (Arvados unlocks it and shuts its instance down too).
    @Test(
        "At quota, instances nothing is allocated to are shut down; Locked containers keep the instances they fit",
        arguments: [1, 2, 3]
    )
    func shutdownAtQuota(quota: Int) {
        let containers = [
            container(2, priority: 2, vcpus: 2, ram: 2 * Self.gib),
            container(3, priority: 3, vcpus: 3, ram: 3 * Self.gib),
        ]
        var pool = StubPool(quota: quota, canCreate: 3)
        pool.create(instanceType(2))
        pool.create(instanceType(2))
        pool.bootAllInstances()
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool)
        harness.runPass()
        if quota < 3 {
            // No type-3 instance for container 3: it stays Locked, waiting for the quota. Container 2, Locked
            // behind it, starts on one idle type-2 instance; the other, which nothing needs, is shut down to free
            // the quota for container 3. Nothing is unlocked.
            #expect(harness.pool.starts == [containerUUID(2)])
            #expect(harness.pool.shutdowns == 1)
            #expect(harness.pool.creates.count == 2)
            #expect(harness.queue.stateChanges.isEmpty)
        } else {
            // Creating a type-3 instance works: start container 2 on a type-2 instance and keep container
            // 3 locked while its instance boots.
            #expect(harness.pool.starts == [containerUUID(2)])
            #expect(harness.pool.shutdowns == 0)
            #expect(harness.pool.creates == [instanceType(2), instanceType(2), instanceType(3)])
            #expect(harness.queue.stateChanges.isEmpty)
        }
    }

    @Test("A Locked container that loses its instance at quota costs the Locked containers behind it no attempt")
    func lockedKeepInstancesBehindOverQuota() {
        // Container 9 (the highest priority) needs a type-4 instance and has none: its instance went away and the
        // quota of 3 is full with the type-2 instances booting for containers 1–3, Locked behind it.
        let containers =
            [container(9, priority: 9, vcpus: 4, ram: 4 * Self.gib)]
            + (1...3).map { container($0, priority: $0, vcpus: 2, ram: 2 * Self.gib) }
        var pool = StubPool(quota: 3, canCreate: 3)
        for _ in 1...3 { pool.create(instanceType(2)) }
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool)
        for second in 0..<3 {
            let plan = harness.runPass(now: testNow.addingSeconds(second))
            #expect(plan.metrics.atQuota)
            #expect(plan.metrics.containersNotAllocatedOverQuota == 1)
        }
        // Each keeps its booting instance: nothing unlocked (each unlock would cost a dispatch attempt), nothing
        // shut down, and container 9 waits Locked for the quota.
        #expect(harness.queue.stateChanges.isEmpty)
        #expect(harness.pool.shutdowns == 0)
        #expect(harness.pool.creates.count == 3)
        #expect(harness.status(of: containerUUID(9))?.contains("cloud account limits") == true)
        #expect(
            harness.status(of: containerUUID(1)) == "Waiting for a type2 instance to boot and be ready to accept work."
        )

        harness.pool.bootAllInstances()
        harness.runPass(now: testNow.addingSeconds(10))
        #expect(Set(harness.pool.starts) == Set((1...3).map(containerUUID)))
        #expect(harness.queue.stateChanges.isEmpty)
        #expect(harness.queue.state(of: containerUUID(9)) == .locked)
    }

    // TestInstanceCapacity
    @Test("A type at capacity is skipped, and a lower-priority container of another type still gets an instance")
    func instanceCapacity() {
        let containers = [
            container(1, priority: 1, vcpus: 1, ram: Self.gib),
            container(2, priority: 2, state: .queued, vcpus: 4, ram: 4 * Self.gib),
            container(3, priority: 3, vcpus: 4, ram: 4 * Self.gib),
            container(4, priority: 4, vcpus: 4, ram: 4 * Self.gib),
        ]
        var pool = StubPool(quota: 99, canCreate: 2, capacity: [instanceType(4).providerType: 1])
        pool.create(instanceType(4))
        pool.bootAllInstances()
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool)
        harness.runPass()
        // Container 4 starts; type 4 is at capacity, so container 3 waits and container 2 is not locked;
        // container 1 gets a type-1 instance.
        #expect(harness.pool.starts == [containerUUID(4)])
        #expect(harness.pool.shutdowns == 0)
        #expect(harness.pool.creates == [instanceType(4), instanceType(1)])
        #expect(harness.queue.stateChanges.isEmpty)
        #expect(
            harness.status(of: containerUUID(3))
                == "Waiting in queue at position 1.  Cluster is at capacity for all eligible instance types (type4) "
                + "and cannot start a new instance right now."
        )
    }

    // TestIdleIn503QuietPeriod
    @Test("After a 503 lowers the limit, nothing is unlocked or shut down, and what fits still starts")
    func idleIn503QuietPeriod() {
        let containers = [
            container(1, priority: 1000, vcpus: 2, ram: 2 * Self.gib),
            container(2, priority: 1000, vcpus: 2, ram: 2 * Self.gib),
            container(3, priority: 1000, vcpus: 3, ram: 3 * Self.gib),
            container(4, priority: 1000, vcpus: 3, ram: 3 * Self.gib),
            container(5, priority: 1000, state: .queued, vcpus: 3, ram: 3 * Self.gib),
        ]
        var pool = StubPool(quota: 16, canCreate: 4)
        for i in [2, 2, 3, 3] { pool.create(instanceType(i)) }
        pool.bootAllInstances()
        pool.startContainer(containerUUID(1), on: "i-0000001")
        pool.startContainer(containerUUID(3), on: "i-0000003")
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool)
        harness.planner.state.last503Seen = testNow
        harness.planner.state.maxContainers = 3
        harness.runPass()
        #expect(harness.pool.starts == [containerUUID(1), containerUUID(3), containerUUID(2)])
        #expect(harness.pool.shutdowns == 0)
        #expect(harness.pool.creates.count == 4)
        #expect(harness.queue.stateChanges.isEmpty)
    }

    // TestUnlockExcessSupervisors
    @Test("Locked supervisors beyond the supervisor limit are unlocked; their instances keep booting")
    func unlockExcessSupervisors() {
        let containers = (1...6).map {
            container($0, priority: 1000 - $0, vcpus: 2, ram: 2 * Self.gib, supervisor: true)
        }
        var pool = StubPool(quota: 16, canCreate: 6)
        for _ in 0..<6 { pool.create(instanceType(2)) }
        pool.bootAllInstances()
        for i in 0..<4 { pool.startContainer(containers[i].uuid, on: pool.workers[i].id) }
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool)
        harness.runPass()
        #expect(harness.pool.starts == [1, 2, 3, 4].map(containerUUID))
        #expect(harness.pool.shutdowns == 0)
        #expect(harness.pool.creates.count == 6)
        #expect(
            harness.queue.stateChanges == [
                .init(uuid: containerUUID(5), from: .locked, to: .queued),
                .init(uuid: containerUUID(6), from: .locked, to: .queued),
            ]
        )
    }

    // TestExcessSupervisors
    @Test("Too many queued supervisors do not cause shutdowns when not at quota")
    func excessSupervisors() {
        var containers = (1...8).map {
            container($0, priority: 1000 + $0, state: .queued, vcpus: 2, ram: 2 * Self.gib, supervisor: true)
        }
        for i in 2..<4 { containers[i].state = .locked }
        var pool = StubPool(quota: 16, canCreate: 3)
        for _ in 0..<3 { pool.create(instanceType(2)) }
        pool.bootAllInstances()
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool)
        harness.runPass()
        #expect(harness.pool.starts.count == 2)
        #expect(harness.pool.shutdowns == 0)
        #expect(harness.pool.creates.count == 3)
        #expect(harness.queue.stateChanges.isEmpty)
    }

    // TestEqualPriorityContainers
    @Test("Equal-priority containers competing for two workers are each unlocked at most once in 30 passes")
    func equalPriorityContainers() {
        let containers = (0..<8).map { container($0, priority: 333, state: .queued, vcpus: 3, ram: 3 * Self.gib) }
        var pool = StubPool(quota: 2, canCreate: 2)
        pool.create(instanceType(3))
        pool.create(instanceType(3))
        pool.bootAllInstances()
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool)
        for pass in 0..<30 { harness.runPass(now: testNow.addingSeconds(pass)) }
        #expect(harness.pool.shutdowns == 0)
        #expect(harness.pool.starts.count == 2)
        var unlocked: [ContainerUUID: Int] = [:]
        for change in harness.queue.stateChanges where change.to == .queued { unlocked[change.uuid, default: 0] += 1 }
        for (uuid, count) in unlocked { #expect(count == 1, "\(uuid)") }
    }

    // TestStartWhileCreating
    @Test("Lower-priority containers start on idle workers while higher ones wait for new workers")
    func startWhileCreating() {
        let containers = [
            container(1, priority: 1, vcpus: 1, ram: Self.gib),  // create a new worker
            container(2, priority: 2, vcpus: 1, ram: Self.gib),  // tentatively map to a booting worker
            container(3, priority: 3, vcpus: 1, ram: Self.gib),  // start now on an idle worker
            container(4, priority: 4, vcpus: 2, ram: 2 * Self.gib),  // create a new worker
            container(5, priority: 5, vcpus: 2, ram: 2 * Self.gib),  // tentatively map to a booting worker
            container(6, priority: 6, vcpus: 2, ram: 2 * Self.gib),  // start now on an idle worker
        ]
        var pool = StubPool(quota: 1000, canCreate: 4)
        pool.create(instanceType(1))
        pool.create(instanceType(1))
        pool["i-0000002"].state = .idle
        pool.create(instanceType(2))
        pool.create(instanceType(2))
        pool["i-0000004"].state = .idle
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool)
        harness.runPass()
        // Go's stub also counts the two creates it refuses (6); the planner knows the pool's create
        // budget is spent and asks for none.
        #expect(harness.pool.creates.count == 4)
        #expect(harness.pool.starts == [containerUUID(6), containerUUID(3)])
        #expect(harness.pool.running == [containerUUID(3): nil, containerUUID(6): nil])
        #expect(
            harness.status(of: containerUUID(5)) == "Waiting for a type2 instance to boot and be ready to accept work."
        )
        #expect(
            harness.status(of: containerUUID(2)) == "Waiting for a type1 instance to boot and be ready to accept work."
        )
        #expect(harness.lastPlan.metrics.containersAllocatedNotStarted == 2)
    }

    // TestKillNonexistentContainer
    @Test("A runner whose container is not in the queue is killed")
    func killNonexistentContainer() {
        var pool = StubPool(quota: 1000, canCreate: 1)
        pool.create(instanceType(2))
        pool.bootAllInstances()
        pool.startContainer(containerUUID(2), on: "i-0000001")
        #expect(pool.running.count == 1)
        var harness = Harness(
            queue: StubQueue([container(1, priority: 1, vcpus: 1, ram: Self.gib)], chooser: .suite()),
            pool: pool
        )
        let plan = harness.runPass()
        #expect(plan.actions.contains(.kill(containerUUID(2), reason: "not in queue")))
        #expect(harness.pool.running.isEmpty)
    }

    // TestContainersMetrics
    @Test("The allocated-not-started, over-quota and longest-wait gauges")
    func containersMetrics() {
        let waiting = [container(1, priority: 1, vcpus: 1, ram: Self.gib, createdAt: testNow.addingSeconds(-10))]

        // One booting worker: the container is allocated but not started.
        var pool = StubPool(canCreate: 1)
        pool.create(instanceType(1))
        var harness = Harness(queue: StubQueue(waiting, chooser: .suite()), pool: pool)
        var metrics = harness.runPass().metrics
        #expect(metrics.containersAllocatedNotStarted == 1)
        #expect(metrics.containersNotAllocatedOverQuota == 0)
        #expect(metrics.containersLongestWaitTimeSeconds == 10)

        // No workers and no quota: the container is over quota.
        harness = Harness(queue: StubQueue(waiting, chooser: .suite()), pool: StubPool())
        metrics = harness.runPass().metrics
        #expect(metrics.containersAllocatedNotStarted == 0)
        #expect(metrics.containersNotAllocatedOverQuota == 1)
        #expect(metrics.containersLongestWaitTimeSeconds == 10)

        // An idle worker: the container starts, so nothing is waiting.
        pool = StubPool(canCreate: 1)
        pool.create(instanceType(1))
        pool.bootAllInstances()
        harness = Harness(queue: StubQueue(waiting, chooser: .suite()), pool: pool)
        metrics = harness.runPass().metrics
        #expect(metrics.containersLongestWaitTimeSeconds == 0)
    }

    // TestSkipSupervisors
    @Test("A supervisor over the limit is skipped and the others start")
    func skipSupervisors() {
        let containers = [
            container(1, priority: 1, vcpus: 1, ram: Self.gib),
            container(2, priority: 2, vcpus: 1, ram: Self.gib, supervisor: true),
            container(3, priority: 3, vcpus: 1, ram: Self.gib, supervisor: true),
            container(4, priority: 4, vcpus: 1, ram: Self.gib, supervisor: true),
        ]
        var pool = StubPool(quota: 1000, canCreate: 8)
        for i in 0..<8 { pool.create(instanceType(i / 4 + 1)) }
        pool.bootAllInstances()
        var harness = Harness(queue: StubQueue(containers, chooser: .suite()), pool: pool)
        harness.runPass()
        #expect(harness.pool.creates.count == 8)
        #expect(harness.pool.starts == [containerUUID(4), containerUUID(3), containerUUID(1)])
        #expect(
            harness.status(of: containerUUID(2))
                == "Waiting in workflow queue at position 1.  "
                + "Cluster is at capacity and cannot start any new workflows right now."
        )
    }
}

extension Timestamp {
    func addingSeconds(_ seconds: Int) -> Timestamp {
        Timestamp(secondsSince1970: self.secondsSince1970 + Int64(seconds), nanoseconds: self.nanoseconds)
    }
}
