import DispatchModel
import DispatchTestSupport
import Scheduler

/// Arvados's `test.ContainerUUID(i)`.
func containerUUID(_ i: Int) -> ContainerUUID {
    let digits = String(i)
    return ContainerUUID(rawValue: "zzzzz-dz642-" + String(repeating: "0", count: 15 - digits.count) + digits)
}

/// Arvados's `test.InstanceType(i)`.
func instanceType(_ i: Int) -> InstanceType { Fixtures.instanceType(i) }

/// A container as the Go tests write them.
func container(
    _ i: Int,
    priority: Int,
    state: ContainerState = .locked,
    vcpus: Int,
    ram: Int64,
    keepCacheDisk: Int64 = 0,
    supervisor: Bool = false,
    createdAt: Timestamp? = nil
) -> Container {
    var container = Container(
        uuid: containerUUID(i),
        state: state,
        priority: priority,
        runtimeConstraints: RuntimeConstraints(vcpus: vcpus, ram: ram, keepCacheDisk: keepCacheDisk),
        schedulingParameters: SchedulingParameters(supervisor: supervisor)
    )
    container.createdAt = createdAt
    return container
}

/// The instant every test runs at.
let testNow = Timestamp(secondsSince1970: 1_800_000_000)

/// The Go suite's `stubPool`: workers the test sets up, plus records of what the plans asked for.
struct StubPool {
    struct Worker {
        var id: InstanceID
        var type: InstanceType
        var state: WorkerState
        var idleBehavior: IdleBehavior = .run
        var running: [ContainerUUID] = []
    }

    /// Workers by ID, in ID order.
    var workers: [Worker] = []
    /// Runners: exit time, or `nil` while running.
    var running: [ContainerUUID: Timestamp?] = [:]
    /// `AtQuota` once the pool holds this many workers (the provider's quota; also `MaxInstances` unless
    /// ``maxInstances`` is set).
    var quota = 0
    /// `MaxInstances`, when it differs from the provider's quota.
    var maxInstances: Int?
    /// Provider type → how many instances of it the cloud can supply.
    var capacity: [String: Int] = [:]
    /// How many more creates the pool accepts.
    var canCreate = 0
    /// Every create the test or a plan asked for, accepted or not.
    var creates: [InstanceType] = []
    /// Every start a plan asked for.
    var starts: [ContainerUUID] = []
    var shutdowns = 0
    var kills: [ContainerUUID] = []
    var last503At: Timestamp?
    /// Current (spot) prices the pool reports.
    var currentPrices: [InstanceTypeName: Double] = [:]
    /// The daily spend the pool reports.
    var dailySpend: DailySpend?

    init(quota: Int = 0, canCreate: Int = 0, capacity: [String: Int] = [:]) {
        self.quota = quota
        self.canCreate = canCreate
        self.capacity = capacity
    }

    @discardableResult
    mutating func create(_ type: InstanceType) -> Bool {
        self.creates.append(type)
        guard self.canCreate > 0 else { return false }
        self.canCreate -= 1
        let digits = String(self.creates.count)
        let id = InstanceID(rawValue: "i-" + String(repeating: "0", count: 7 - digits.count) + digits)
        self.workers.append(Worker(id: id, type: type, state: .booting))
        return true
    }

    mutating func bootAllInstances() {
        for i in self.workers.indices where self.workers[i].state == .booting { self.workers[i].state = .idle }
    }

    subscript(id: InstanceID) -> Worker {
        get { self.workers.first { $0.id == id }! }
        set { self.workers[self.workers.firstIndex { $0.id == id }!] = newValue }
    }

    @discardableResult
    mutating func startContainer(_ uuid: ContainerUUID, on id: InstanceID) -> Bool {
        self.starts.append(uuid)
        guard let index = self.workers.firstIndex(where: { $0.id == id }) else { return false }
        let worker = self.workers[index]
        guard worker.state == .idle || worker.state == .running, worker.idleBehavior == .run else { return false }
        self.running[uuid] = .some(nil)
        self.workers[index].state = .running
        self.workers[index].running.append(uuid)
        return true
    }

    var snapshot: PoolSnapshot {
        var holds = Set<CapacityScope>()
        for (providerType, supply) in self.capacity
        where supply - self.workers.count(where: { $0.type.providerType == providerType }) < 1 {
            holds.insert(.instanceType(providerType: providerType, preemptible: false))
        }
        return PoolSnapshot(
            instances: self.workers.map {
                InstanceSnapshot(
                    id: $0.id,
                    type: $0.type,
                    state: $0.state,
                    idleBehavior: $0.idleBehavior,
                    runningContainers: $0.running
                )
            },
            runners: self.running.mapValues { PoolSnapshot.Runner(exitedAt: $0) },
            atQuota: self.workers.count >= min(self.quota, self.maxInstances ?? self.quota),
            quotaHeld: self.workers.count >= self.quota,
            maxInstances: self.maxInstances ?? self.quota,
            createBudget: self.canCreate,
            capacityHolds: holds,
            last503At: self.last503At,
            currentPrices: self.currentPrices,
            dailySpend: self.dailySpend
        )
    }
}

/// The Go suite's `test.Queue`: the API's containers, the cached entries, and every state change.
struct StubQueue {
    struct StateChange: Hashable, CustomStringConvertible {
        var uuid: ContainerUUID
        var from: ContainerState
        var to: ContainerState
        var description: String { "\(self.uuid) \(self.from.rawValue)→\(self.to.rawValue)" }
    }

    var containers: [Container]
    var chooser: InstanceTypeChooser
    /// Cached entries, in first-seen order.
    private(set) var entries: [QueueEntry] = []
    private(set) var updatedAt: Timestamp?
    private(set) var stateChanges: [StateChange] = []
    private var sightings = 0

    init(_ containers: [Container], chooser: InstanceTypeChooser) {
        self.containers = containers
        self.chooser = chooser
        self.update()
    }

    /// Rebuilds the entries from the containers, as a queue poll would.
    mutating func update(at now: Timestamp = testNow) {
        var next: [QueueEntry] = []
        for container in self.containers {
            if let existing = self.entries.first(where: { $0.uuid == container.uuid }) {
                var entry = existing
                entry.container = container
                next.append(entry)
                continue
            }
            guard !container.state.isFinal else { continue }
            self.sightings += 1
            next.append(
                QueueEntry(
                    container: container,
                    instanceTypes: (try? self.chooser.eligibleTypes(for: container)) ?? [],
                    resources: self.chooser.resourcesNeeded(for: container),
                    firstSeenAt: Timestamp(secondsSince1970: now.secondsSince1970, nanoseconds: Int32(self.sightings))
                )
            )
        }
        self.entries = next
        self.updatedAt = now
    }

    var snapshot: QueueSnapshot { QueueSnapshot(entries: self.entries, updatedAt: self.updatedAt) }

    func state(of uuid: ContainerUUID) -> ContainerState? { self.entries.first { $0.uuid == uuid }?.container.state }

    mutating func changeState(_ uuid: ContainerUUID, from: ContainerState?, to: ContainerState) {
        guard let index = self.entries.firstIndex(where: { $0.uuid == uuid }) else { return }
        let current = self.entries[index].container.state
        self.stateChanges.append(StateChange(uuid: uuid, from: from ?? current, to: to))
        guard from == nil || current == from else { return }
        self.entries[index].container.state = to
        if let i = self.containers.firstIndex(where: { $0.uuid == uuid }) { self.containers[i].state = to }
    }

    mutating func forget(_ uuid: ContainerUUID) { self.entries.removeAll { $0.uuid == uuid } }
}

/// A planner wired to the stubs, applying each plan the way the scheduling loop will.
struct Harness {
    var queue: StubQueue
    var pool: StubPool
    var planner: SchedulingPlanner
    private(set) var lastPlan = Plan()

    init(queue: StubQueue, pool: StubPool, configuration: SchedulingPlanner.Configuration = .suite) {
        self.queue = queue
        self.pool = pool
        self.planner = SchedulingPlanner(configuration: configuration)
    }

    /// Plans one pass and applies it to the stubs.
    @discardableResult
    mutating func runPass(now: Timestamp = testNow) -> Plan {
        let plan = self.planner.plan(queue: self.queue.snapshot, pool: self.pool.snapshot, now: now)
        for action in plan.actions { self.apply(action) }
        self.lastPlan = plan
        return plan
    }

    mutating func apply(_ action: Plan.Action) {
        switch action {
        case .lock(let uuid): self.queue.changeState(uuid, from: .queued, to: .locked)
        case .unlock(let uuid, _): self.queue.changeState(uuid, from: .locked, to: .queued)
        case .requeue(let uuid, _): self.queue.changeState(uuid, from: .running, to: .queued)
        case .cancel(let uuid, _): self.queue.changeState(uuid, from: nil, to: .cancelled)
        case .create(let type): self.pool.create(type)
        case .start(let uuid, let id): self.pool.startContainer(uuid, on: id)
        case .shutdown: self.pool.shutdowns += 1
        case .kill(let uuid, _), .finished(let uuid):
            self.pool.kills.append(uuid)
            self.pool.running[uuid] = nil
        case .forget(let uuid): self.queue.forget(uuid)
        }
    }

    /// The status the last plan gave a container, as Arvados words it.
    func status(of uuid: ContainerUUID) -> String? {
        self.lastPlan.queue.first { $0.uuid == uuid }?.status?.description
    }
}

extension SchedulingPlanner.Configuration {
    /// The Go suite's cluster: `MaxInstances 10`, `SupervisorFraction 0.2`.
    static var suite: Self {
        var configuration = Self()
        configuration.maxInstances = 10
        configuration.supervisorFraction = 0.2
        return configuration
    }
}

extension InstanceTypeChooser {
    /// The Go suite's chooser: types 1…16 (minus `removing`), no reserved RAM, no keep buffers.
    static func suite(removing: [Int] = [], maximumPriceFactor: Double = 0) -> Self {
        InstanceTypeChooser(
            types: (1...16).filter { !removing.contains($0) }.map(instanceType),
            maximumPriceFactor: maximumPriceFactor,
            reserveExtraRAM: .zero,
            localKeepBlobBuffersPerVCPU: 0
        )
    }
}

/// A scheduling-pool fake that does nothing but what it is written to do: a fake conforming to it writes its
/// snapshot and whatever it records; every other call is accepted and does nothing (creates and starts fail).
protocol InertSchedulingPool: SchedulingPool {}

extension InertSchedulingPool {
    func waitUntilLoaded() async {}
    func changes() async -> AsyncStream<Void> { AsyncStream { _ in } }
    func create(_ type: InstanceType) async -> Bool { false }
    func replaceCreateBacklog(_ types: [InstanceType]) async {}
    func startContainer(_ container: Container, on id: InstanceID) async -> Bool { false }
    func shutdown(_ id: InstanceID) async -> Bool { false }
    func killContainer(_ uuid: ContainerUUID, reason: String) async -> Bool { false }
    func containerFinished(_ uuid: ContainerUUID) async {}
    func forgetContainer(_ uuid: ContainerUUID) async {}
}
