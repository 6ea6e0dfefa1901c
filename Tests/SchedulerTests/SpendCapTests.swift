import DispatchModel
import DispatchTestSupport
import Scheduler
import Testing

/// `DispatchCloud.MaxHourlySpend`: no create takes the summed hourly price of all instances above the cap.
@Suite("Hourly spend cap")
struct SpendCapTests {
    /// A pool with one idle type2 instance nothing needs, and a Locked container that needs a type4.
    static func harness(cap: Double, currentPrices: [InstanceTypeName: Double] = [:]) -> Harness {
        var pool = StubPool(quota: 10, canCreate: 10)
        pool.workers = [.init(id: InstanceID(rawValue: "i-idle"), type: instanceType(2), state: .idle)]
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxHourlySpend = cap
        var harness = Harness(
            queue: StubQueue(
                [container(1, priority: 1, state: .locked, vcpus: 4, ram: 1 << 30)],
                chooser: .suite()
            ),
            pool: pool,
            configuration: configuration
        )
        harness.pool.currentPrices = currentPrices
        return harness
    }

    @Test("At the cap the create waits, says why, and the idle instance nobody needs is shut down")
    func createWaitsAtCap() throws {
        // type2 costs 0.246 an hour, type4 0.492: together 0.738, one cent over the cap.
        var harness = Self.harness(cap: 0.728)
        let plan = harness.runPass()
        #expect(harness.pool.creates.isEmpty)
        #expect(harness.pool.shutdowns == 1)
        #expect(
            harness.status(of: containerUUID(1)) == "waiting: hourly spend cap of $0.728 reached (position 1 in queue)"
        )
        #expect(plan.metrics.containersWaitingOnSpendCap == 1)
        #expect(abs(plan.metrics.hourlySpend - 0.246) < 1e-9)
        #expect(plan.metrics.maxHourlySpend == 0.728)
        // Once the idle instance is gone, the create fits under the cap.
        harness.pool.workers.removeAll()
        let next = harness.runPass()
        #expect(harness.pool.creates.map(\.name) == [instanceType(4).name])
        #expect(next.metrics.containersWaitingOnSpendCap == 0)
        #expect(abs(next.metrics.hourlySpend - 0.492) < 1e-9)
    }

    @Test("A create that reaches the cap exactly is allowed; no cap (0) never holds a create")
    func exactCapAndNoCap() {
        var exact = Self.harness(cap: 0.246 + 0.492)
        exact.runPass()
        #expect(exact.pool.creates.map(\.name) == [instanceType(4).name])
        #expect(exact.pool.shutdowns == 0)
        var uncapped = Self.harness(cap: 0)
        uncapped.runPass()
        #expect(uncapped.pool.creates.count == 1)
    }

    @Test("A type counts at its current (spot) price where the pool knows it")
    func currentPriceCounts() {
        // At its configured price type4 does not fit; at a current price of 0.2 it does.
        var harness = Self.harness(cap: 0.5, currentPrices: [instanceType(4).name: 0.2])
        harness.runPass()
        #expect(harness.pool.creates.map(\.name) == [instanceType(4).name])
        // And a running instance whose price rose counts at its new price.
        var risen = Self.harness(cap: 1.0, currentPrices: [instanceType(2).name: 0.6])
        risen.runPass()
        #expect(risen.pool.creates.isEmpty)
        #expect(risen.status(of: containerUUID(1))?.hasPrefix("waiting: hourly spend cap of $1.00 reached") == true)
    }

    @Test("Instances are created for Queued containers only as far as the cap pays for them")
    func locksBoundedByCap() {
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxHourlySpend = 1.0
        var harness = Harness(
            queue: StubQueue(
                (1...5).map { container($0, priority: 10 - $0, state: .queued, vcpus: 4, ram: 1 << 30) },
                chooser: .suite()
            ),
            pool: StubPool(quota: 10, canCreate: 10),
            configuration: configuration
        )
        harness.runPass()
        // Two type4 instances (0.984) fit under 1.0; the other three wait on the cap.
        #expect(harness.pool.creates.count == 2, "\(harness.pool.creates)")
        #expect(harness.lastPlan.metrics.containersWaitingOnSpendCap == 3)
        // Once the instances exist, the two containers they are for are locked, and no others.
        harness.runPass()
        let locked = (1...5).filter { harness.queue.state(of: containerUUID($0)) == .locked }
        #expect(locked == [1, 2])
        #expect(harness.pool.creates.count == 2)
    }

    @Test(
        "Over a long randomized run the hourly spend never goes over the cap because of a create",
        arguments: [1, 2, 3] as [UInt64]
    )
    func randomizedRun(seed: UInt64) {
        var simulation = CapSimulation(seed: seed, cap: 3.0)
        // Eight simulated hours, a pass a second; arrivals stop after four, so the queue drains. Arrivals need
        // about $2.40 an hour on average, so bursts meet the $3 cap.
        for t in 0..<(8 * 3600) { simulation.step(t, arrivals: t < 4 * 3600) }
        #expect(simulation.violations.isEmpty, "\(simulation.violations.prefix(5))")
        #expect(simulation.creates > 50, "\(simulation.creates) creates")
        // The cap was reached (the run tests something), and it did not starve anything for good.
        #expect(simulation.passesWaitingOnCap > 100, "\(simulation.passesWaitingOnCap) passes waiting on the cap")
        #expect(simulation.submitted > 100)
        #expect(simulation.completed == simulation.submitted, "\(simulation.completed) of \(simulation.submitted)")
    }
}

/// The cloud and the API as one value, stepped a simulated second at a time, with containers arriving at
/// random, random boot, run and shutdown times, and one type whose spot price moves.
struct CapSimulation {
    struct VM {
        var type: InstanceType
        var state: WorkerState
        var bootsAt: Int
        var idleSince: Int
        var goneAt: Int?
        var running: ContainerUUID?
    }

    var random: FuzzRandom
    let cap: Double
    let chooser = InstanceTypeChooser(
        types: [1, 2, 4, 8].map(instanceType),
        maximumPriceFactor: 0,
        reserveExtraRAM: .zero,
        localKeepBlobBuffersPerVCPU: 0
    )
    var planner: SchedulingPlanner
    var entries: [ContainerUUID: QueueEntry] = [:]
    var vms: [InstanceID: VM] = [:]
    var runners: [ContainerUUID: (instance: InstanceID, endsAt: Int)] = [:]
    var currentPrices: [InstanceTypeName: Double] = [:]
    var nextID = 0
    var submitted = 0
    var completed = 0
    var creates = 0
    var passesWaitingOnCap = 0
    /// Every create that took the spend above the cap: (second, spend after it).
    var violations: [(Int, Double)] = []

    init(seed: UInt64, cap: Double) {
        self.random = FuzzRandom(seed: seed)
        self.cap = cap
        var configuration = SchedulingPlanner.Configuration()
        configuration.maxInstances = 100
        configuration.maxRunningContainersPerInstance = 1
        configuration.maxHourlySpend = cap
        self.planner = SchedulingPlanner(configuration: configuration)
    }

    func price(_ type: InstanceType) -> Double { self.currentPrices[type.name] ?? type.price }

    var spend: Double { self.vms.values.reduce(0) { $0 + self.price($1.type) } }

    mutating func step(_ t: Int, arrivals: Bool) {
        if arrivals && Int.random(in: 0..<60, using: &self.random) == 0 {
            self.submitted += 1
            let vcpus = [1, 2, 4, 8][Int.random(in: 0..<4, using: &self.random)]
            let container = container(
                self.submitted,
                priority: Int.random(in: 1...1000, using: &self.random),
                state: .queued,
                vcpus: vcpus,
                ram: 1 << 28
            )
            self.entries[container.uuid] = QueueEntry(
                container: container,
                instanceTypes: (try? self.chooser.eligibleTypes(for: container)) ?? [],
                resources: self.chooser.resourcesNeeded(for: container),
                firstSeenAt: Timestamp(secondsSince1970: testNow.secondsSince1970 + Int64(t))
            )
        }
        if t % 300 == 0 {
            // type4's spot price moves between 40% and 140% of its configured price.
            let factor = Double(Int.random(in: 40...140, using: &self.random)) / 100
            self.currentPrices[instanceType(4).name] = instanceType(4).price * factor
        }
        for (uuid, runner) in self.runners where runner.endsAt <= t {
            self.runners[uuid] = nil
            self.vms[runner.instance]?.running = nil
            self.vms[runner.instance]?.state = .idle
            self.vms[runner.instance]?.idleSince = t
            self.entries[uuid] = nil
            self.completed += 1
        }
        for (id, vm) in self.vms {
            if let gone = vm.goneAt {
                if gone <= t { self.vms[id] = nil }
            } else if vm.state == .booting && vm.bootsAt <= t {
                self.vms[id]?.state = .idle
                self.vms[id]?.idleSince = t
            } else if vm.state == .idle && t - vm.idleSince >= 120 {
                self.shutDown(id, t)
            }
        }
        let now = Timestamp(secondsSince1970: testNow.secondsSince1970 + Int64(t))
        let plan = self.planner.plan(
            queue: QueueSnapshot(entries: Array(self.entries.values), updatedAt: now),
            pool: self.snapshot,
            now: now
        )
        if plan.metrics.containersWaitingOnSpendCap > 0 { self.passesWaitingOnCap += 1 }
        for action in plan.actions { self.apply(action, t) }
    }

    var snapshot: PoolSnapshot {
        PoolSnapshot(
            instances: self.vms.sorted { $0.key.rawValue < $1.key.rawValue }.map { id, vm in
                InstanceSnapshot(
                    id: id,
                    type: vm.type,
                    state: vm.state,
                    runningContainers: vm.running.map { [$0] } ?? []
                )
            },
            runners: self.runners.mapValues { _ in PoolSnapshot.Runner() },
            maxInstances: 100,
            currentPrices: self.currentPrices
        )
    }

    mutating func shutDown(_ id: InstanceID, _ t: Int) {
        // Shutting down takes a while, and the instance costs its price until it is gone.
        self.vms[id]?.state = .shutdown
        self.vms[id]?.goneAt = t + Int.random(in: 1...30, using: &self.random)
    }

    mutating func apply(_ action: Plan.Action, _ t: Int) {
        switch action {
        case .lock(let uuid):
            guard self.entries[uuid]?.container.state == .queued else { return }
            self.entries[uuid]?.container.state = .locked
        case .unlock(let uuid, _):
            guard self.entries[uuid]?.container.state == .locked else { return }
            self.entries[uuid]?.container.state = .queued
        case .cancel(let uuid, _):
            self.entries[uuid] = nil
        case .create(let type):
            self.creates += 1
            self.nextID += 1
            let id = InstanceID(rawValue: "i-\(100_000 + self.nextID)")
            let bootsAt = t + Int.random(in: 10...90, using: &self.random)
            self.vms[id] = VM(type: type, state: .booting, bootsAt: bootsAt, idleSince: t)
            // The property under test, checked at every create.
            let spend = self.spend
            if spend > self.cap * (1 + 1e-9) { self.violations.append((t, spend)) }
        case .start(let uuid, let id):
            guard let vm = self.vms[id], vm.state == .idle, vm.running == nil,
                self.entries[uuid]?.container.state == .locked
            else { return }
            self.vms[id]?.state = .running
            self.vms[id]?.running = uuid
            self.entries[uuid]?.container.state = .running
            self.runners[uuid] = (id, t + Int.random(in: 30...600, using: &self.random))
        case .shutdown(let id):
            guard let vm = self.vms[id], vm.state == .booting || vm.state == .idle, vm.goneAt == nil else { return }
            self.shutDown(id, t)
        case .kill(let uuid, _):
            if let runner = self.runners.removeValue(forKey: uuid) {
                self.vms[runner.instance]?.running = nil
                self.vms[runner.instance]?.state = .idle
                self.vms[runner.instance]?.idleSince = t
            }
        case .forget(let uuid):
            self.entries[uuid] = nil
        case .finished, .requeue:
            break
        }
    }
}
