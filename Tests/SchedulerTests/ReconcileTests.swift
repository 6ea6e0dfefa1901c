import DispatchModel
import Scheduler
import Testing

/// The cases of Arvados's `scheduler/sync_test.go` and the reconciliation table of reference §3.5.
@Suite("Reconciliation")
struct ReconcileTests {
    // TestForgetIrrelevantContainers
    @Test("Queued priority-0 and finished containers are dropped from the queue")
    func forgetIrrelevantContainers() {
        var queue = StubQueue(
            [container(1, priority: 0, state: .queued, vcpus: 1, ram: 1 << 30)],
            chooser: .suite()
        )
        // Go's stub queue never adds a container first seen finished; add it the way the real queue can
        // hold one (finished after it was cached).
        queue.containers.append(container(2, priority: 12345, state: .locked, vcpus: 1, ram: 1 << 30))
        queue.update()
        queue.containers[1].state = .complete
        queue.update()
        #expect(queue.entries.count == 2)
        var harness = Harness(queue: queue, pool: StubPool())
        let plan = harness.runPass()
        #expect(plan.actions.contains(.forget(containerUUID(1))))
        #expect(plan.actions.contains(.forget(containerUUID(2))))
        #expect(harness.queue.entries.isEmpty)
    }

    // TestCancelOrphanedContainers
    @Test("A Running container on no worker is cancelled only once no worker is unknown")
    func cancelOrphanedContainers() {
        var pool = StubPool(canCreate: 1)
        pool.create(instanceType(1))
        pool.workers[0].state = .unknown
        var harness = Harness(
            queue: StubQueue([container(1, priority: 0, state: .running, vcpus: 1, ram: 1 << 30)], chooser: .suite()),
            pool: pool
        )
        // It might be running on the worker nobody has probed yet.
        for _ in 0..<10 { harness.runPass() }
        #expect(harness.queue.entries.count == 1)
        #expect(harness.queue.state(of: containerUUID(1)) == .running)

        // Once the unknown worker is gone, it is cancelled, then forgotten.
        harness.pool.workers = []
        harness.runPass()
        #expect(harness.queue.state(of: containerUUID(1)) == .cancelled)
        harness.runPass()
        #expect(harness.queue.entries.isEmpty)
    }

    /// What the pool knows of a container's runner.
    enum RunnerState: String, Sendable {
        case none
        case alive
        /// Alive, and the pool already waits for it to exit by itself.
        case finishing
        /// Exited before the last queue update started.
        case exitedBeforeUpdate
        /// Exited after the last queue update started, so the queue may not show the outcome yet.
        case exitedAfterUpdate
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var state: ContainerState
        var priority: Int
        var runner: RunnerState
        var unknownWorker = false
        var expected: Plan.Action?
        var testDescription: String {
            "\(self.state.rawValue) priority \(self.priority), runner \(self.runner.rawValue)"
                + (self.unknownWorker ? ", unknown worker" : "")
        }
    }

    static let uuid = containerUUID(1)

    static let rows: [Row] = [
        Row(state: .running, priority: 1, runner: .none, expected: .cancel(uuid, reason: "not running on any worker")),
        Row(state: .running, priority: 1, runner: .none, unknownWorker: true, expected: nil),
        Row(
            state: .running,
            priority: 1,
            runner: .exitedBeforeUpdate,
            expected: .cancel(uuid, reason: "state=Running after crunch-run exited")
        ),
        Row(state: .running, priority: 1, runner: .exitedAfterUpdate, expected: nil),
        Row(state: .running, priority: 1, runner: .alive, expected: nil),
        Row(state: .running, priority: 0, runner: .alive, expected: .kill(uuid, reason: "priority=0")),
        // The runner that finalized it is exiting: the pool stops counting it, without Arvados's `--kill`.
        Row(state: .complete, priority: 1, runner: .alive, expected: .finished(uuid)),
        Row(state: .complete, priority: 1, runner: .finishing, expected: nil),
        Row(state: .complete, priority: 1, runner: .exitedAfterUpdate, expected: .kill(uuid, reason: "state=Complete")),
        // Cancelled by a user while it ran: the runner may still be running the process.
        Row(state: .cancelled, priority: 1, runner: .alive, expected: .kill(uuid, reason: "state=Cancelled")),
        Row(
            state: .cancelled,
            priority: 0,
            runner: .exitedAfterUpdate,
            expected: .kill(uuid, reason: "state=Cancelled")
        ),
        Row(state: .complete, priority: 1, runner: .none, expected: .forget(uuid)),
        Row(state: .cancelled, priority: 1, runner: .none, expected: .forget(uuid)),
        Row(state: .queued, priority: 1, runner: .alive, expected: .kill(uuid, reason: "state=Queued")),
        Row(state: .queued, priority: 0, runner: .none, expected: .forget(uuid)),
        Row(state: .queued, priority: 1, runner: .none, expected: nil),
        Row(
            state: .locked,
            priority: 1,
            runner: .exitedBeforeUpdate,
            expected: .unlock(uuid, reason: "crunch-run exited")
        ),
        Row(state: .locked, priority: 1, runner: .exitedAfterUpdate, expected: nil),
        Row(state: .locked, priority: 0, runner: .exitedAfterUpdate, expected: nil),
        Row(state: .locked, priority: 0, runner: .alive, expected: .kill(uuid, reason: "priority=0")),
        Row(state: .locked, priority: 0, runner: .none, expected: .unlock(uuid, reason: "priority=0")),
        Row(state: .locked, priority: 1, runner: .none, expected: nil),
    ]

    @Test("The reconciliation table", arguments: Self.rows)
    func reconciliationTable(row: Row) {
        let updated = testNow
        var instances: [InstanceSnapshot] = []
        if row.unknownWorker { instances.append(InstanceSnapshot(id: "i-1", type: instanceType(1), state: .unknown)) }
        var runners: [ContainerUUID: PoolSnapshot.Runner] = [:]
        switch row.runner {
        case .none: break
        case .alive: runners[Self.uuid] = .init()
        case .finishing: runners[Self.uuid] = .init(finishing: true)
        case .exitedBeforeUpdate: runners[Self.uuid] = .init(exitedAt: updated.addingSeconds(-1))
        case .exitedAfterUpdate: runners[Self.uuid] = .init(exitedAt: updated.addingSeconds(1))
        }
        let entry = QueueEntry(
            container: container(1, priority: row.priority, state: row.state, vcpus: 1, ram: 1 << 30),
            instanceTypes: [instanceType(1)],
            resources: InstanceResources(vcpus: 1, ram: .giB(1)),
            firstSeenAt: updated
        )
        var actions: [Plan.Action] = []
        SchedulingPlanner.reconcile(
            queue: QueueSnapshot(entries: [entry], updatedAt: updated),
            pool: PoolSnapshot(instances: instances, runners: runners),
            into: &actions
        )
        #expect(actions == (row.expected.map { [$0] } ?? []))
    }

    @Test("A runner whose container is not in the queue is killed, in UUID order")
    func killRunnersNotInQueue() {
        var actions: [Plan.Action] = []
        SchedulingPlanner.reconcile(
            queue: QueueSnapshot(entries: [], updatedAt: testNow),
            pool: PoolSnapshot(runners: [containerUUID(9): .init(), containerUUID(3): .init(exitedAt: testNow)]),
            into: &actions
        )
        #expect(
            actions == [
                .kill(containerUUID(3), reason: "not in queue"), .kill(containerUUID(9), reason: "not in queue"),
            ]
        )
    }

    @Test("A finishing runner whose Complete container left the queue is left to the pool, not killed")
    func finishingRunnerNotInQueue() {
        var actions: [Plan.Action] = []
        SchedulingPlanner.reconcile(
            queue: QueueSnapshot(entries: [], updatedAt: testNow),
            pool: PoolSnapshot(runners: [containerUUID(9): .init(finishing: true), containerUUID(3): .init()]),
            into: &actions
        )
        #expect(actions == [.kill(containerUUID(3), reason: "not in queue")])
    }

    @Test("Finishing runners hold no slot: at MaxInstances a new container still starts on the freed worker")
    func finishingRunnerHoldsNoSlot() {
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxInstances = 1
        let next = container(2, priority: 1, state: .locked, vcpus: 1, ram: 1 << 30)
        let entry = QueueEntry(
            container: next,
            instanceTypes: [instanceType(1)],
            resources: InstanceResources(vcpus: 1, ram: .giB(1)),
            firstSeenAt: testNow
        )
        var planner = SchedulingPlanner(configuration: configuration)
        let plan = planner.plan(
            queue: QueueSnapshot(entries: [entry], updatedAt: testNow),
            pool: PoolSnapshot(
                instances: [InstanceSnapshot(id: "i-1", type: instanceType(1), state: .idle)],
                runners: [containerUUID(1): .init(finishing: true)],
                atQuota: true,
                maxInstances: 1
            ),
            now: testNow
        )
        #expect(plan.actions.contains(.start(next.uuid, on: "i-1")))
    }

    /// A queue entry for a container of 1 VCPU and 1 GiB, eligible for type 1 only.
    static func oneVCPU(_ container: Container) -> QueueEntry {
        QueueEntry(
            container: container,
            instanceTypes: [instanceType(1)],
            resources: InstanceResources(vcpus: 1, ram: .giB(1)),
            firstSeenAt: testNow
        )
    }

    @Test(
        "A Complete container's live runner frees its slot in the pass that sends finished",
        arguments: [ContainerState.locked, .queued]
    )
    func finishedFreesSlotInSamePass(waiting: ContainerState) {
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxInstances = 1
        let done = container(1, priority: 1, state: .complete, vcpus: 1, ram: 1 << 30)
        let next = container(2, priority: 1, state: waiting, vcpus: 1, ram: 1 << 30)
        var planner = SchedulingPlanner(configuration: configuration)
        let plan = planner.plan(
            queue: QueueSnapshot(entries: [Self.oneVCPU(done), Self.oneVCPU(next)], updatedAt: testNow),
            pool: PoolSnapshot(
                instances: [
                    InstanceSnapshot(id: "i-1", type: instanceType(1), state: .running, runningContainers: [done.uuid])
                ],
                runners: [done.uuid: .init()],
                atQuota: true,
                maxInstances: 1
            ),
            now: testNow
        )
        // `.finished` first, so the pool has freed the worker when the start (or, for a Queued container, the
        // start after its lock) reaches it; and only once.
        let expected: Plan.Action = waiting == .locked ? .start(next.uuid, on: "i-1") : .lock(next.uuid)
        #expect(plan.actions == [.finished(done.uuid), expected])
    }

    @Test("An exited runner of a final container holds no slot in the pass that kills and forgets it")
    func releasedRunnerHoldsNoSlot() {
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxInstances = 1
        let done = container(1, priority: 1, state: .complete, vcpus: 1, ram: 1 << 30)
        let next = container(2, priority: 1, state: .locked, vcpus: 1, ram: 1 << 30)
        var planner = SchedulingPlanner(configuration: configuration)
        let plan = planner.plan(
            queue: QueueSnapshot(entries: [Self.oneVCPU(done), Self.oneVCPU(next)], updatedAt: testNow),
            pool: PoolSnapshot(
                instances: [InstanceSnapshot(id: "i-1", type: instanceType(1), state: .idle)],
                runners: [done.uuid: .init(exitedAt: testNow.addingSeconds(-1))],
                atQuota: true,
                maxInstances: 1
            ),
            now: testNow
        )
        // The exited runner still counts against the container limit (one, at MaxInstances 1) until the pool
        // forgets it, which this pass's kill does.
        #expect(plan.actions == [.start(next.uuid, on: "i-1"), .kill(done.uuid, reason: "state=Complete")])
    }
}
