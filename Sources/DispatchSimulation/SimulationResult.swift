import CloudDriverSimulated
import DispatchConfig
import DispatchModel
public import Foundation
import Simulation
import WorkerPool

/// What a simulation run showed: the figures of the summary, and the series its report plots.
///
/// Times are seconds of simulated time; money is in the unit of the configured instance prices per hour.
/// Encoded with sorted keys and rounded figures, the same run gives the same bytes.
public struct SimulationResult: Codable, Sendable, Equatable {
    public struct Containers: Codable, Sendable, Equatable {
        public var submitted = 0
        public var complete = 0
        public var cancelled = 0
        /// Refused by the API at create: no instance type can run them.
        public var refused = 0
        /// Not final when the run stopped.
        public var unfinished = 0
        /// Complete with a non-zero exit code.
        public var failed = 0
    }

    public struct Percentiles: Codable, Sendable, Equatable {
        public var p50 = 0.0
        public var p90 = 0.0
        public var p99 = 0.0
        public var max = 0.0
        public var mean = 0.0
    }

    public struct TypeUse: Codable, Sendable, Equatable {
        public var instances = 0
        public var hours = 0.0
        public var cost = 0.0
    }

    /// Samples over time, for the plots.
    public struct Series: Codable, Sendable, Equatable {
        public var seconds: [Double] = []
        public var instancesByType: [String: [Int]] = [:]
        public var instancesByState: [String: [Int]] = [:]
        public var queued: [Int] = []
        public var running: [Int] = []
        /// The summed hourly price of the instances alive.
        public var spendRate: [Double] = []
    }

    public struct Bucket: Codable, Sendable, Equatable {
        public var label: String
        public var count: Int
    }

    public var configuration: String
    public var seed: UInt64
    public var containers = Containers()
    /// From submission to Running, over the containers that ran.
    public var waitSeconds = Percentiles()
    public var waitHistogram: [Bucket] = []
    /// From the first submission to the last container's end.
    public var makespanSeconds = 0.0
    /// Until every instance was gone (or the run stopped).
    public var simulatedSeconds = 0.0
    public var byType: [String: TypeUse] = [:]
    public var instanceHours = 0.0
    public var cost = 0.0
    public var peakInstances = 0
    /// Errors the cloud answered: quota, capacity, rate limit, other.
    public var cloudErrors: [String: Int] = [:]
    public var runnerCrashes = 0
    /// Container VCPU-hours run over instance VCPU-hours paid.
    public var utilisation = 0.0
    /// The run stopped at its time limit with work left.
    public var stoppedUnfinished = false
    public var series = Series()

    public init(configuration: String, seed: UInt64) {
        self.configuration = configuration
        self.seed = seed
    }

    /// The JSON document (`--json`): sorted keys, so equal results give equal bytes.
    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return (try? encoder.encode(self)) ?? Data()
    }
}

/// Collects what happens during a run, on the simulation's executor.
actor Recorder {
    struct Lifetime {
        var type: String
        var start: Duration
        var end: Duration?
    }

    let config: ClusterConfig
    let workload: Workload
    let clock: VirtualClock
    var submittedAt: [ContainerUUID: (at: Duration, index: Int)] = [:]
    var startedAt: [ContainerUUID: Duration] = [:]
    var finishedAt: [ContainerUUID: (at: Duration, state: ContainerState, exitCode: Int?)] = [:]
    var refusals = 0
    var lifetimes: [InstanceID: Lifetime] = [:]
    var cloudErrors: [String: Int] = [:]
    var runnerCrashes = 0
    var series = SimulationResult.Series()
    var peak = 0
    var unfinishedStop = false

    init(config: ClusterConfig, workload: Workload, clock: VirtualClock) {
        self.config = config
        self.workload = workload
        self.clock = clock
    }

    func submitted(_ uuid: ContainerUUID, index: Int) {
        self.submittedAt[uuid] = (self.clock.now.offset, index)
    }

    func refused(index: Int, reason: String) {
        self.refusals += 1
    }

    func stoppedUnfinished() { self.unfinishedStop = true }

    func changed(_ containers: [Container]) {
        let now = self.clock.now.offset
        for container in containers where self.submittedAt[container.uuid] != nil {
            if container.state == .running, self.startedAt[container.uuid] == nil {
                self.startedAt[container.uuid] = now
            }
            if container.state.isFinal, self.finishedAt[container.uuid] == nil {
                self.finishedAt[container.uuid] = (now, container.state, container.exitCode)
            }
        }
    }

    func cloudEvent(_ event: SimulatedCloudEvent, typeName: String?) {
        switch event.kind {
        case .instanceCreated(let providerType):
            guard let id = event.instanceID else { return }
            let name =
                typeName
                ?? self.config.sortedInstanceTypes.first { $0.providerType == providerType }?.name.rawValue
                ?? providerType
            self.lifetimes[id] = Lifetime(type: name, start: event.elapsed)
        case .instanceDisappeared:
            guard let id = event.instanceID else { return }
            self.lifetimes[id]?.end = event.elapsed
        case .errorInjected(_, let code):
            let name =
                switch code {
                case "quotaExceeded": "quota"
                case "insufficientCapacity": "capacity"
                case "rateLimited": "rateLimit"
                default: "other"
                }
            self.cloudErrors[name, default: 0] += 1
        case .runnerCrashed:
            self.runnerCrashes += 1
        default:
            break
        }
    }

    func sample(views: [InstanceView], queued: Int, running: Int) -> (submitted: Int, finished: Int) {
        let index = self.series.seconds.count
        self.series.seconds.append(Self.round(Double(self.clock.now.offset.components.seconds)))
        var byType: [String: Int] = [:]
        var byState: [String: Int] = [:]
        var spend = 0.0
        for view in views {
            byType[view.instanceType.name.rawValue, default: 0] += 1
            byState[view.workerState.rawValue, default: 0] += 1
            spend += view.instanceType.price
        }
        for key in Set(self.series.instancesByType.keys).union(byType.keys) {
            var values = self.series.instancesByType[key] ?? Array(repeating: 0, count: index)
            values.append(byType[key] ?? 0)
            self.series.instancesByType[key] = values
        }
        for key in Set(self.series.instancesByState.keys).union(byState.keys) {
            var values = self.series.instancesByState[key] ?? Array(repeating: 0, count: index)
            values.append(byState[key] ?? 0)
            self.series.instancesByState[key] = values
        }
        self.series.queued.append(queued)
        self.series.running.append(running)
        self.series.spendRate.append(Self.round(spend))
        self.peak = max(self.peak, views.count)
        return (self.submittedAt.count + self.refusals, self.finishedAt.count + self.refusals)
    }

    static func round(_ value: Double) -> Double { (value * 1_000_000).rounded() / 1_000_000 }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    static func percentiles(_ values: [Double]) -> SimulationResult.Percentiles {
        guard !values.isEmpty else { return .init() }
        let sorted = values.sorted()
        func rank(_ p: Double) -> Double {
            sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
        }
        return .init(
            p50: Self.round(rank(0.5)),
            p90: Self.round(rank(0.9)),
            p99: Self.round(rank(0.99)),
            max: Self.round(sorted[sorted.count - 1]),
            mean: Self.round(sorted.reduce(0, +) / Double(sorted.count))
        )
    }

    func result(configurationName: String, seed: UInt64) -> SimulationResult {
        let now = self.clock.now.offset
        var result = SimulationResult(configuration: configurationName, seed: seed)
        result.containers.submitted = self.submittedAt.count
        result.containers.refused = self.refusals
        for (uuid, _) in self.submittedAt {
            guard let final = self.finishedAt[uuid] else {
                result.containers.unfinished += 1
                continue
            }
            if final.state == .complete {
                result.containers.complete += 1
                if (final.exitCode ?? 0) != 0 { result.containers.failed += 1 }
            } else {
                result.containers.cancelled += 1
            }
        }
        var waits: [Double] = []
        var containerVCPUSeconds = 0.0
        for (uuid, started) in self.startedAt {
            guard let submitted = self.submittedAt[uuid] else { continue }
            waits.append(Self.seconds(started - submitted.at))
            let end = self.finishedAt[uuid]?.at ?? now
            containerVCPUSeconds += Self.seconds(end - started) * Double(self.workload.entries[submitted.index].vcpus)
        }
        result.waitSeconds = Self.percentiles(waits)
        let bounds: [(String, Double)] = [
            ("< 1 min", 60), ("1–5 min", 300), ("5–15 min", 900), ("15–60 min", 3600), ("1–4 h", 14400),
            ("4–12 h", 43200), ("≥ 12 h", .infinity),
        ]
        var lower = -Double.infinity
        for (label, upper) in bounds {
            let count = waits.count { $0 >= lower && $0 < upper }
            result.waitHistogram.append(.init(label: label, count: count))
            lower = upper
        }
        let firstSubmission = self.submittedAt.values.map(\.at).min() ?? .zero
        let lastEnd = self.finishedAt.values.map(\.at).max() ?? firstSubmission
        result.makespanSeconds = Self.round(Self.seconds(lastEnd - firstSubmission))
        result.simulatedSeconds = Self.round(Self.seconds(now))
        var instanceVCPUSeconds = 0.0
        for lifetime in self.lifetimes.values {
            let hours = Self.seconds((lifetime.end ?? now) - lifetime.start) / 3600
            let type = self.config.instanceTypes[InstanceTypeName(rawValue: lifetime.type)]
            var use = result.byType[lifetime.type] ?? .init()
            use.instances += 1
            use.hours += hours
            use.cost += hours * (type?.price ?? 0)
            result.byType[lifetime.type] = use
            instanceVCPUSeconds += hours * 3600 * Double(type?.vcpus ?? 0)
        }
        for (name, use) in result.byType {
            result.byType[name] = .init(
                instances: use.instances,
                hours: Self.round(use.hours),
                cost: Self.round(use.cost)
            )
            result.instanceHours += use.hours
            result.cost += use.cost
        }
        result.instanceHours = Self.round(result.instanceHours)
        result.cost = Self.round(result.cost)
        result.peakInstances = self.peak
        result.cloudErrors = self.cloudErrors
        result.runnerCrashes = self.runnerCrashes
        result.utilisation = instanceVCPUSeconds > 0 ? Self.round(containerVCPUSeconds / instanceVCPUSeconds) : 0
        result.stoppedUnfinished = self.unfinishedStop
        result.series = self.series
        return result
    }
}
