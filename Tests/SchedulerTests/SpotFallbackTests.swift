import DispatchModel
import DispatchTestSupport
import Scheduler
import Testing

/// Spot containers fall back to on-demand types after `SpotFallbackAfter` of capacity holds on every eligible spot
/// type, or after `PreemptionBudget` preemptions; a preempted Running container is requeued within the budget.
@Suite("Spot fallback and preemption budget")
struct SpotFallbackTests {
    static let spot = {
        var type = Fixtures.instanceType(1, preemptible: true)
        type.name = InstanceTypeName(rawValue: "type1.spot")
        return type
    }()
    static let onDemand = Fixtures.instanceType(1)
    static let spotHeld = CapacityScope.instanceType(providerType: Self.spot.providerType, preemptible: true)
    static let uuid = containerUUID(1)

    static func entry(_ state: ContainerState, onDemandTypes: [InstanceType] = [Self.onDemand]) -> QueueEntry {
        var container = Container(
            uuid: Self.uuid,
            state: state,
            priority: 1,
            runtimeConstraints: RuntimeConstraints(vcpus: 1, ram: 1 << 20),
            schedulingParameters: SchedulingParameters(preemptible: true)
        )
        container.createdAt = testNow
        return QueueEntry(
            container: container,
            instanceTypes: [Self.spot],
            resources: InstanceResources(vcpus: 1, ram: .miB(1)),
            firstSeenAt: testNow,
            onDemandTypes: onDemandTypes
        )
    }

    static func planner(hold: Duration = .zero, budget: Int = 0) -> SchedulingPlanner {
        var configuration = SchedulingPlanner.Configuration()
        configuration.spotFallback = SpotFallback.Configuration(hold: hold, budget: budget)
        return SchedulingPlanner(configuration: configuration)
    }

    static func at(_ seconds: Int64) -> Timestamp {
        Timestamp(secondsSince1970: testNow.secondsSince1970 + seconds)
    }

    static func creates(_ plan: Plan) -> [InstanceTypeName] {
        plan.actions.compactMap {
            if case .create(let type) = $0 { type.name } else { nil }
        }
    }

    @Test("A held spot container falls back exactly after SpotFallbackAfter, gaps between holds included")
    func fallbackAfterHold() {
        var planner = Self.planner(hold: .seconds(120))
        let queue = QueueSnapshot(entries: [Self.entry(.locked)], updatedAt: testNow)
        let held = PoolSnapshot(capacityHolds: [Self.spotHeld])
        // Held from t0: it waits for the spot type.
        #expect(Self.creates(planner.plan(queue: queue, pool: held, now: Self.at(0))).isEmpty)
        // The hold lifts for a retry: the create goes to spot again, and the wait is not restarted.
        #expect(Self.creates(planner.plan(queue: queue, pool: PoolSnapshot(), now: Self.at(60))) == [Self.spot.name])
        let justBefore = planner.plan(
            queue: queue,
            pool: held,
            now: Timestamp(secondsSince1970: Self.at(119).secondsSince1970, nanoseconds: 999_999_999)
        )
        #expect(Self.creates(justBefore).isEmpty)
        #expect(planner.fallback.decisions.isEmpty)
        // 120 s after the first held pass: on-demand.
        let after = planner.plan(queue: queue, pool: held, now: Self.at(120))
        #expect(Self.creates(after) == [Self.onDemand.name])
        let decision = planner.fallback.decisions[Self.uuid]
        #expect(
            decision
                == SpotFallback.Decision(at: Self.at(120), reason: .capacity(since: Self.at(0), hold: .seconds(120)))
        )
        #expect(decision?.description.contains("every eligible spot type held for capacity for 2m") == true)
        #expect(decision?.runtimeStatus["warning"] == .string("Fell back from spot to on-demand instances"))
        // It stays on on-demand, even once spot capacity is back.
        #expect(
            Self.creates(planner.plan(queue: queue, pool: PoolSnapshot(), now: Self.at(130))) == [Self.onDemand.name]
        )
    }

    @Test("Without SpotFallbackAfter (the default) a spot container waits for spot forever, as in Arvados")
    func noFallbackByDefault() {
        var planner = Self.planner()
        let queue = QueueSnapshot(entries: [Self.entry(.locked)], updatedAt: testNow)
        let held = PoolSnapshot(capacityHolds: [Self.spotHeld])
        for hour: Int64 in 0..<24 {
            #expect(Self.creates(planner.plan(queue: queue, pool: held, now: Self.at(hour * 3600))).isEmpty)
        }
        #expect(planner.fallback.decisions.isEmpty)
    }

    @Test("A container with no on-demand type that fits keeps waiting for spot")
    func noOnDemandType() {
        var planner = Self.planner(hold: .seconds(10))
        let queue = QueueSnapshot(entries: [Self.entry(.locked, onDemandTypes: [])], updatedAt: testNow)
        let held = PoolSnapshot(capacityHolds: [Self.spotHeld])
        #expect(Self.creates(planner.plan(queue: queue, pool: held, now: Self.at(0))).isEmpty)
        #expect(Self.creates(planner.plan(queue: queue, pool: held, now: Self.at(3600))).isEmpty)
    }

    @Test(
        "After PreemptionBudget preemptions a container falls back to on-demand",
        arguments: [(1, [Self.spot.name]), (2, [Self.onDemand.name]), (3, [Self.onDemand.name])]
    )
    func fallbackAfterBudget(preemptions: Int, expected: [InstanceTypeName]) {
        var planner = Self.planner(budget: 2)
        let queue = QueueSnapshot(entries: [Self.entry(.locked)], updatedAt: testNow)
        var pool = PoolSnapshot()
        pool.preemptions = [Self.uuid: preemptions]
        #expect(Self.creates(planner.plan(queue: queue, pool: pool, now: testNow)) == expected)
        if preemptions >= 2 {
            #expect(planner.fallback.decisions[Self.uuid]?.reason == .preemptions(preemptions))
        }
    }

    @Test(
        "A spot type counts as cheaper only at its current price",
        arguments: [(0.05, [Self.spot.name]), (0.123, [Self.onDemand.name]), (0.2, [Self.onDemand.name])]
    )
    func currentSpotPrice(spotPrice: Double, expected: [InstanceTypeName]) {
        var planner = Self.planner(budget: 3)
        let queue = QueueSnapshot(entries: [Self.entry(.locked)], updatedAt: testNow)
        let pool = PoolSnapshot(currentPrices: [Self.spot.name: spotPrice])
        #expect(Self.creates(planner.plan(queue: queue, pool: pool, now: testNow)) == expected)
        if expected == [Self.onDemand.name] {
            #expect(planner.fallback.decisions[Self.uuid]?.why.hasPrefix("spot costs") == true)
        }
    }

    @Test(
        "A Running container whose instance vanished is requeued while its budget lasts, cancelled after",
        arguments: [
            (0, 2, Plan.Action.cancel(containerUUID(1), reason: "not running on any worker")),
            (1, 2, .requeue(containerUUID(1), preemptions: 1)),
            (2, 2, .requeue(containerUUID(1), preemptions: 2)),
            (3, 2, .cancel(containerUUID(1), reason: "not running on any worker")),
            (1, 0, .cancel(containerUUID(1), reason: "not running on any worker")),
        ]
    )
    func requeueWithinBudget(preemptions: Int, budget: Int, expected: Plan.Action) {
        var planner = Self.planner(budget: budget)
        let queue = QueueSnapshot(entries: [Self.entry(.running)], updatedAt: testNow)
        var pool = PoolSnapshot()
        pool.preemptions = [Self.uuid: preemptions]
        let plan = planner.plan(queue: queue, pool: pool, now: testNow)
        #expect(plan.actions == [expected])
    }
}
