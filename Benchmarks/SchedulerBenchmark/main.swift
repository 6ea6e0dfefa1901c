// Planning passes at scale: 100,000 queued containers, 10,000 instances, 50 instance types; and a busy mid-size
// cluster (1,000 instances each running one container), whose passes are small and many.
//
// Run with `swift run -c release scheduler-benchmark [passes] [scenario name prefix]`. The scenario is built from a fixed seed,
// so every run plans the same snapshots. Prints the median, p95 and maximum pass time for each scenario
// and the process's peak resident set size (VmHWM).

import DispatchModel
import Foundation
import Scheduler

/// SplitMix64: a small, seeded, deterministic generator.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct Scenario {
    var name: String
    var queue: QueueSnapshot
    var pool: PoolSnapshot
    var configuration: SchedulingPlanner.Configuration
}

func instanceTypes() -> [InstanceType] {
    let vcpuChoices = [2, 4, 8, 16, 32]
    let ramPerVCPU: [Int64] = [2, 4, 8]
    return (1...50).map { i in
        let vcpus = vcpuChoices[i % vcpuChoices.count]
        let ram = ByteSize.giB(Int64(vcpus) * ramPerVCPU[(i / 5) % ramPerVCPU.count])
        let generation = Double(i / 15)
        return InstanceType(
            name: InstanceTypeName(rawValue: "type\(i)"),
            providerType: "family\(i / 5).size\(i % 5)",
            vcpus: vcpus,
            ram: ram,
            includedScratch: .giB(Int64(vcpus) * 25),
            price: Double(vcpus) * 0.04 * Double(ram.bytes >> 30) / Double(vcpus) / 4 * (1 + generation * 0.05),
            preemptible: i % 7 == 0
        )
    }
}

func uuid(_ i: Int) -> ContainerUUID {
    let digits = String(i)
    return ContainerUUID(rawValue: "zzzzz-dz642-" + String(repeating: "0", count: 15 - digits.count) + digits)
}

/// Each container shape's eligible types and resources, worked out once and then shared, as the queue shares them.
struct EligibleTypes<Shape: Hashable> {
    let chooser: InstanceTypeChooser
    private var byShape: [Shape: ([InstanceType], InstanceResources)] = [:]

    init(chooser: InstanceTypeChooser) { self.chooser = chooser }

    /// The eligible types and resources of `container`, whose shape is `shape`.
    mutating func of(_ container: Container, shape: Shape) -> ([InstanceType], InstanceResources) {
        if let known = self.byShape[shape] { return known }
        let found = (
            (try? self.chooser.eligibleTypes(for: container)) ?? [], self.chooser.resourcesNeeded(for: container)
        )
        self.byShape[shape] = found
        return found
    }
}

/// Builds the queue and pool: 100,000 containers (10 % Running on instances, 20 % Locked, the rest Queued),
/// 10,000 instances of 50 types.
func buildScenario(
    name: String,
    maxInstances: Int,
    createBudget: Int?,
    shareEligibleLists: Bool = true,
    containers containerCount: Int = 100_000,
    instances instanceCount: Int = 10_000
) -> Scenario {
    var rng = SeededGenerator(state: 20_261_129)
    let types = instanceTypes()
    let chooser = InstanceTypeChooser(types: types)
    let base = Timestamp(secondsSince1970: 1_800_000_000)
    let vcpuChoices = [1, 1, 1, 2, 2, 4, 8]
    let ramChoices: [Int64] = [1, 2, 2, 4, 8, 16]

    var eligibleByShape = EligibleTypes<String>(chooser: chooser)
    var entries: [QueueEntry] = []
    entries.reserveCapacity(containerCount)
    for i in 0..<containerCount {
        let vcpus = vcpuChoices.randomElement(using: &rng)!
        let ram = ramChoices.randomElement(using: &rng)! << 30
        let preemptible = Int.random(in: 0..<10, using: &rng) == 0
        let roll = Int.random(in: 0..<100, using: &rng)
        let state: ContainerState = roll < 10 ? .running : roll < 30 ? .locked : .queued
        var container = Container(
            uuid: uuid(i),
            state: state,
            priority: Int.random(in: 0..<50, using: &rng) == 0 ? 0 : Int.random(in: 1...1000, using: &rng),
            containerImage: "d41d8cd98f00b204e9800998ecf8427e+0",
            runtimeConstraints: RuntimeConstraints(vcpus: vcpus, ram: ram, keepCacheRAM: 256 << 20),
            schedulingParameters: SchedulingParameters(
                preemptible: preemptible,
                supervisor: Int.random(in: 0..<20, using: &rng) == 0
            )
        )
        container.createdAt = Timestamp(secondsSince1970: base.secondsSince1970 - Int64(containerCount - i))
        let (eligible, resources) = eligibleByShape.of(container, shape: "\(vcpus)/\(ram)/\(preemptible)")
        entries.append(
            QueueEntry(
                container: container,
                instanceTypes: shareEligibleLists ? eligible : eligible.map { $0 },
                resources: resources,
                firstSeenAt: Timestamp(secondsSince1970: base.secondsSince1970 - Int64(containerCount - i))
            )
        )
    }

    // Instances: put Running containers on instances of their eligible types while they fit.
    var instances: [InstanceSnapshot] = []
    instances.reserveCapacity(instanceCount)
    var remaining: [InstanceResources] = []
    var byType: [InstanceTypeName: [Int]] = [:]
    for i in 0..<instanceCount {
        let type = types.randomElement(using: &rng)!
        let roll = Int.random(in: 0..<100, using: &rng)
        let state: WorkerState = roll < 80 ? .idle : roll < 92 ? .booting : roll < 95 ? .unknown : .shutdown
        let behavior: IdleBehavior = Int.random(in: 0..<100, using: &rng) < 2 ? .hold : .run
        instances.append(
            InstanceSnapshot(
                id: InstanceID(rawValue: "i-\(String(i, radix: 16))"),
                type: type,
                state: state,
                idleBehavior: behavior
            )
        )
        remaining.append(type.capacity)
        byType[type.name, default: []].append(i)
    }
    var runners: [ContainerUUID: PoolSnapshot.Runner] = [:]
    var cursor: [InstanceTypeName: Int] = [:]
    for i in entries.indices where entries[i].container.state == .running {
        let entry = entries[i]
        placing: for type in entry.instanceTypes {
            guard let candidates = byType[type.name] else { continue }
            var c = cursor[type.name, default: 0]
            while c < candidates.count {
                let slot = candidates[c]
                if instances[slot].state != .shutdown && remaining[slot].accommodates(entry.resources) {
                    remaining[slot] = remaining[slot].subtracting(entry.resources)
                    instances[slot].runningContainers.append(entry.uuid)
                    instances[slot].state = .running
                    runners[entry.uuid] = PoolSnapshot.Runner()
                    break placing
                }
                c += 1
                cursor[type.name] = c
            }
        }
    }

    var configuration = SchedulingPlanner.Configuration()
    configuration.maxInstances = maxInstances
    return Scenario(
        name: name,
        queue: QueueSnapshot(entries: entries, updatedAt: base),
        pool: PoolSnapshot(
            instances: instances,
            runners: runners,
            maxInstances: maxInstances,
            createBudget: createBudget,
            capacityHolds: [.instanceType(providerType: types[3].providerType, preemptible: false)]
        ),
        configuration: configuration
    )
}

/// A busy mid-size cluster in its steady state, as the simulated day of `simulation-benchmark` spends most of it:
/// `instanceCount` instances of four types (1, 2, 4 and 8 VCPUs), each running one container its size, and
/// `waiting` containers Queued. Passes at such a cluster are many (about ten per container's life) and each is
/// small, so this measures what a pass costs per instance and runner rather than per queued container.
func buildBusyScenario(instances instanceCount: Int, waiting: Int) -> Scenario {
    var rng = SeededGenerator(state: 20_261_206)
    let types = [1, 2, 4, 8].map { vcpus in
        InstanceType(
            name: InstanceTypeName(rawValue: "c\(vcpus)"),
            providerType: "c\(vcpus)",
            vcpus: vcpus,
            ram: .giB(Int64(vcpus) * 4),
            includedScratch: .giB(Int64(vcpus) * 16),
            price: Double(vcpus) * 0.05
        )
    }
    let chooser = InstanceTypeChooser(types: types)
    let base = Timestamp(secondsSince1970: 1_800_000_000)
    var entries: [QueueEntry] = []
    var instances: [InstanceSnapshot] = []
    var runners: [ContainerUUID: PoolSnapshot.Runner] = [:]
    var eligibleByVCPUs = EligibleTypes<Int>(chooser: chooser)
    for i in 0..<(instanceCount + waiting) {
        let vcpus = [1, 1, 2, 2, 4, 8].randomElement(using: &rng)!
        let running = i < instanceCount
        var container = Container(
            uuid: uuid(i),
            state: running ? .running : .queued,
            priority: Int.random(in: 1...1000, using: &rng),
            containerImage: "d41d8cd98f00b204e9800998ecf8427e+0",
            runtimeConstraints: RuntimeConstraints(vcpus: vcpus, ram: Int64(vcpus) * (3 << 30))
        )
        container.createdAt = Timestamp(secondsSince1970: base.secondsSince1970 - Int64(instanceCount + waiting - i))
        let (eligible, resources) = eligibleByVCPUs.of(container, shape: vcpus)
        entries.append(
            QueueEntry(
                container: container,
                instanceTypes: eligible,
                resources: resources,
                firstSeenAt: container.createdAt!
            )
        )
        guard running, let type = eligible.first else { continue }
        instances.append(
            InstanceSnapshot(
                id: InstanceID(rawValue: "sim-" + String(format: "%06d", i)),
                type: type,
                state: .running,
                runningContainers: [container.uuid]
            )
        )
        runners[container.uuid] = PoolSnapshot.Runner()
    }
    entries.shuffle(using: &rng)
    var configuration = SchedulingPlanner.Configuration()
    configuration.maxInstances = instanceCount + waiting
    return Scenario(
        name: "busy (\(instanceCount) instances each running one, \(waiting) queued)",
        queue: QueueSnapshot(entries: entries, updatedAt: base),
        pool: PoolSnapshot(instances: instances, runners: runners, maxInstances: instanceCount + waiting),
        configuration: configuration
    )
}

func peakRSS() -> String {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return "?" }
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? "VmHWM: ?"
    return line.dropFirst("VmHWM:".count).trimmingCharacters(in: .whitespaces)
}

/// CPU time of this thread, so the figures hold on a busy machine.
func threadCPUTime() -> Duration {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return .seconds(spec.tv_sec) + .nanoseconds(spec.tv_nsec)
}

func milliseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1000 + Double(attoseconds) / 1e15
}

let passes = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 30
let clock = ContinuousClock()
let now = Timestamp(secondsSince1970: 1_800_000_060)

let only = CommandLine.arguments.dropFirst(2).first
let configurations: [(name: String, maxInstances: Int, createBudget: Int?, shareEligibleLists: Bool)] = [
    // Arvados defaults at this size: a MaxInstances cap and one create at a time.
    ("limited (MaxInstances 12000, 1 create)", 12_000, 1, true),
    // Worst case: no limits, so every container is placed, locked or given an instance.
    ("unlimited (MaxInstances 0, any creates)", 0, nil, true),
    // The same, with every entry holding its own copy of its eligible-type list.
    ("unlimited, unshared type lists", 0, nil, false),
]
var scenarios = configurations.filter { only == nil || $0.name.hasPrefix(only!) }.map {
    buildScenario(
        name: $0.name,
        maxInstances: $0.maxInstances,
        createBudget: $0.createBudget,
        shareEligibleLists: $0.shareEligibleLists
    )
}
if only == nil || "busy".hasPrefix(only!) || only!.hasPrefix("busy") {
    scenarios.append(buildBusyScenario(instances: 1000, waiting: 20))
}
print("setup done; peak RSS so far \(peakRSS())")
for scenario in scenarios {
    var times: [Double] = []
    var cpuTimes: [Double] = []
    var last = Plan()
    for pass in 0..<(passes + 3) {
        var planner = SchedulingPlanner(configuration: scenario.configuration)
        let start = clock.now
        let cpuStart = threadCPUTime()
        last = planner.plan(queue: scenario.queue, pool: scenario.pool, now: now)
        let cpu = threadCPUTime() - cpuStart
        let elapsed = clock.now - start
        if pass >= 3 {
            times.append(milliseconds(elapsed))
            cpuTimes.append(milliseconds(cpu))
        }
    }
    func summary(_ values: [Double]) -> String {
        let sorted = values.sorted()
        let median = sorted[sorted.count / 2]
        let p95 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.95).rounded(.up)) - 1)]
        let digits = median < 1 ? "%.3f" : "%.1f"
        return "median \(String(format: digits, median)) ms, p95 \(String(format: digits, p95)) ms, "
            + "max \(String(format: digits, sorted.last!)) ms"
    }
    var counts: [String: Int] = [:]
    for action in last.actions {
        let kind =
            switch action {
            case .lock: "lock"
            case .unlock: "unlock"
            case .requeue: "requeue"
            case .cancel: "cancel"
            case .create: "create"
            case .start: "start"
            case .shutdown: "shutdown"
            case .kill: "kill"
            case .finished: "finished"
            case .forget: "forget"
            }
        counts[kind, default: 0] += 1
    }
    print(
        """
        \(scenario.name): \(scenario.queue.entries.count) containers, \(scenario.pool.instances.count) instances, \
        \(Set(scenario.pool.instances.map(\.type.name)).count) types, \(scenario.pool.runners.count) runners
          \(passes) passes, wall: \(summary(times))
          \(passes) passes, CPU:  \(summary(cpuTimes))
          actions: \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        """
    )
}
print("peak RSS (VmHWM): \(peakRSS())")
