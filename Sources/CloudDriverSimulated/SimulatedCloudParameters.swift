public import CloudDriver
public import DispatchModel

/// How a simulated cloud behaves: the `CloudVMs.DriverParameters` of the `simulated` driver.
///
/// Every key is optional; the defaults make a well-behaved cloud (no errors, no broken instances), so a
/// chaos run or a what-if study turns on only what it studies. Durations are Go-style strings (`"90s"`,
/// `"1m30s"`, `"250ms"`) or numbers of seconds; rates are probabilities from 0 to 1. An unknown key, a
/// value of the wrong type or out of range is a `DriverConfigurationError` naming the key.
///
/// | Key | Default | Meaning |
/// |---|---|---|
/// | `BootTime` | `{Min: 10s, Max: 60s}` | Time from create until commands answer, uniform in the range |
/// | `ShutdownTime` | `{Min: 0s, Max: 0s}` | Time from destroy until the instance is no longer listed; it answers no commands meanwhile |
/// | `ErrorRates` | `{Create: 0, List: 0, Destroy: 0, SetTags: 0}` | Chance each call fails with an `other` error |
/// | `MaxInstances` | `0` (no quota) | Creating beyond this many listed instances fails with `quotaExceeded` |
/// | `CapacityErrors` | `{}` | `{"<ProviderType>": rate}`: chance a create of that type fails with `insufficientCapacity` scoped to the type |
/// | `SpotCapacityErrors` | `{}` | `{"<ProviderType>": rate}`: as `CapacityErrors`, for creates of the type's preemptible (spot) variants only |
/// | `Preemptions` | `{}` | `{"<ProviderType>": rate}`: chance a container run on a preemptible instance of that type is cut short by a preemption: the instance leaves the list at a uniform point of the run, with no destroy asked |
/// | `MinTimeBetweenCalls` | `{}` | `{Create: 1s, List: 0s, Destroy: 0s, SetTags: 0s}`: a call sooner than this after the last accepted one fails with `rateLimited` until then |
/// | `RateLimitErrorRate` | `0` | Chance any call fails with `rateLimited` |
/// | `RateLimitRetryAfter` | `5s` | The `retryAfter` of those errors |
/// | `BrokenRate` | `0` | Chance an instance's runner reports `broken` in `--list` |
/// | `BrokenAtFirst` | `{}` | `{"<ProviderType>": duration}`: instances of that type created less than this long after the cloud was made are broken outright: every command exits 2 (`cannot fork`), so they never pass the boot probe |
/// | `UnresponsiveRate` | `0` | Chance an instance stops answering commands, at a time after boot in `UnresponsiveAfter` |
/// | `UnresponsiveAfter` | `{Min: 0s, Max: 1h}` | When, after boot, an unresponsive instance stops answering |
/// | `RunnerMissingRate` | `0` | Chance an instance has no runner: every runner command exits 127 |
/// | `RunnerCrashRate` | `0` | Chance a container's runner dies part-way (at a uniform point of its run time) |
/// | `StaleLockRate` | `0` | Chance a container that ended leaves its lock behind, reported `stale` for the life of the instance |
/// | `RunTime` | `{Min: 1m, Max: 10m}` | A container's run time, uniform in the range |
/// | `WaitsForRunnerUpdates` | `false` | Runs keep to a real runner's order with the API, played by a test double: a run does not end before ``SimulatedCloud/acknowledgeStarted(_:on:)`` (its Running update is stored), and a container that exited stays in `--list` until ``SimulatedCloud/finalized(_:on:)`` (its final state is stored) |
/// | `ExitCodes` | `{"0": 1}` | Relative weights of the exit codes containers end with |
/// | `RemoteUser` | `root` | The instances' `remoteUser` |
/// | `Seed` | random (logged) | Seed of the random generator: the same seed and the same calls give the same run |
public struct SimulatedCloudParameters: Hashable, Sendable {
    /// A range of durations sampled uniformly.
    public struct DurationRange: Hashable, Sendable {
        public var min: Duration
        public var max: Duration

        public init(min: Duration, max: Duration) {
            self.min = min
            self.max = max
        }
    }

    /// The chance of an injected failure for each cloud operation.
    public struct ErrorRates: Hashable, Sendable {
        public var create: Double = 0
        public var list: Double = 0
        public var destroy: Double = 0
        public var setTags: Double = 0

        public init(create: Double = 0, list: Double = 0, destroy: Double = 0, setTags: Double = 0) {
            self.create = create
            self.list = list
            self.destroy = destroy
            self.setTags = setTags
        }
    }

    public var bootTime = DurationRange(min: .seconds(10), max: .seconds(60))
    public var shutdownTime = DurationRange(min: .zero, max: .zero)
    public var errorRates = ErrorRates()
    /// The quota: at most this many live instances; 0 for none.
    public var maxInstances = 0
    /// Chance of a capacity error per provider type.
    public var capacityErrors: [String: Double] = [:]
    /// Chance of a capacity error per provider type, for preemptible creates only.
    public var spotCapacityErrors: [String: Double] = [:]
    /// Chance, per provider type, that a container run on a preemptible instance ends with the instance preempted.
    public var preemptions: [String: Double] = [:]
    /// The least time between two accepted calls of an operation (`Create`, `List`, `Destroy`, `SetTags`).
    public var minTimeBetweenCalls: [String: Duration] = [:]
    public var rateLimitErrorRate = 0.0
    public var rateLimitRetryAfter = Duration.seconds(5)
    public var brokenRate = 0.0
    /// Per provider type, how long after the cloud was made its new instances are still created broken.
    public var brokenAtFirst: [String: Duration] = [:]
    public var unresponsiveRate = 0.0
    public var unresponsiveAfter = DurationRange(min: .zero, max: .seconds(3600))
    public var runnerMissingRate = 0.0
    public var runnerCrashRate = 0.0
    public var staleLockRate = 0.0
    public var runTime = DurationRange(min: .seconds(60), max: .seconds(600))
    /// Whether runs wait for the runner's API updates, played by a test double: no end before
    /// ``SimulatedCloud/acknowledgeStarted(_:on:)``, listed after exiting until ``SimulatedCloud/finalized(_:on:)``.
    public var waitsForRunnerUpdates = false
    /// Relative weights of container exit codes.
    public var exitCodes: [Int32: Double] = [0: 1]
    public var remoteUser = "root"
    /// The random seed; `nil` picks one at random.
    public var seed: UInt64?

    /// The defaults.
    public init() {}

    /// Reads the parameters from a `DriverParameters` object (`null` means all defaults).
    public init(_ json: JSONValue) throws(DriverConfigurationError) {
        self.init()
        var reader = try ParameterReader(json, path: "")
        self.bootTime = try reader.durationRange("BootTime", default: self.bootTime)
        self.shutdownTime = try reader.durationRange("ShutdownTime", default: self.shutdownTime)
        if var rates = try reader.object("ErrorRates") {
            self.errorRates.create = try rates.rate("Create") ?? 0
            self.errorRates.list = try rates.rate("List") ?? 0
            self.errorRates.destroy = try rates.rate("Destroy") ?? 0
            self.errorRates.setTags = try rates.rate("SetTags") ?? 0
            try rates.rejectUnknownKeys()
        }
        if let max = try reader.integer("MaxInstances") {
            guard max >= 0 else { throw .invalidParameter("MaxInstances", "must not be negative") }
            self.maxInstances = max
        }
        if var capacity = try reader.object("CapacityErrors") {
            for key in capacity.remainingKeys {
                self.capacityErrors[key] = try capacity.rate(key)
            }
        }
        if var capacity = try reader.object("SpotCapacityErrors") {
            for key in capacity.remainingKeys {
                self.spotCapacityErrors[key] = try capacity.rate(key)
            }
        }
        if var preemptions = try reader.object("Preemptions") {
            for key in preemptions.remainingKeys {
                self.preemptions[key] = try preemptions.rate(key)
            }
        }
        if var spacing = try reader.object("MinTimeBetweenCalls") {
            for operation in ["Create", "List", "Destroy", "SetTags"] {
                if let duration = try spacing.duration(operation) { self.minTimeBetweenCalls[operation] = duration }
            }
            try spacing.rejectUnknownKeys()
        }
        self.rateLimitErrorRate = try reader.rate("RateLimitErrorRate") ?? 0
        self.rateLimitRetryAfter = try reader.duration("RateLimitRetryAfter") ?? self.rateLimitRetryAfter
        self.brokenRate = try reader.rate("BrokenRate") ?? 0
        if var broken = try reader.object("BrokenAtFirst") {
            for key in broken.remainingKeys {
                if let duration = try broken.duration(key) { self.brokenAtFirst[key] = duration }
            }
        }
        self.unresponsiveRate = try reader.rate("UnresponsiveRate") ?? 0
        self.unresponsiveAfter = try reader.durationRange("UnresponsiveAfter", default: self.unresponsiveAfter)
        self.runnerMissingRate = try reader.rate("RunnerMissingRate") ?? 0
        self.runnerCrashRate = try reader.rate("RunnerCrashRate") ?? 0
        self.staleLockRate = try reader.rate("StaleLockRate") ?? 0
        self.runTime = try reader.durationRange("RunTime", default: self.runTime)
        self.waitsForRunnerUpdates = try reader.boolean("WaitsForRunnerUpdates") ?? false
        if var codes = try reader.object("ExitCodes") {
            var weights: [Int32: Double] = [:]
            for key in codes.remainingKeys {
                guard let code = Int32(key) else {
                    throw .invalidParameter(codes.path(key), "exit code must be an integer")
                }
                guard let weight = try codes.number(key), weight >= 0 else {
                    throw .invalidParameter(codes.path(key), "weight must be a non-negative number")
                }
                weights[code] = weight
            }
            guard weights.values.contains(where: { $0 > 0 }) else {
                throw .invalidParameter("ExitCodes", "needs at least one exit code with a positive weight")
            }
            self.exitCodes = weights
        }
        if let user = try reader.string("RemoteUser") {
            guard !user.isEmpty else { throw .invalidParameter("RemoteUser", "must not be empty") }
            self.remoteUser = user
        }
        if let seed = try reader.integer("Seed") {
            self.seed = UInt64(bitPattern: Int64(seed))
        }
        try reader.rejectUnknownKeys()
    }
}

/// Reads one JSON object of parameters, remembering which keys were used so unknown ones are reported.
struct ParameterReader {
    private var values: [String: JSONValue]
    private let prefix: String

    init(_ json: JSONValue, path: String) throws(DriverConfigurationError) {
        self.prefix = path
        switch json {
        case .null: self.values = [:]
        case .object(let values): self.values = values
        default: throw .invalidParameter(path.isEmpty ? "DriverParameters" : path, "must be an object")
        }
    }

    /// The keys not read yet, sorted.
    var remainingKeys: [String] { self.values.keys.sorted() }

    func path(_ key: String) -> String { self.prefix.isEmpty ? key : "\(self.prefix).\(key)" }

    private mutating func take(_ key: String) -> JSONValue? {
        guard let value = self.values.removeValue(forKey: key), value != .null else { return nil }
        return value
    }

    mutating func number(_ key: String) throws(DriverConfigurationError) -> Double? {
        switch self.take(key) {
        case nil: return nil
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: throw .invalidParameter(self.path(key), "must be a number")
        }
    }

    mutating func rate(_ key: String) throws(DriverConfigurationError) -> Double? {
        guard let rate = try self.number(key) else { return nil }
        guard (0...1).contains(rate) else {
            throw .invalidParameter(self.path(key), "must be a probability from 0 to 1, not \(rate)")
        }
        return rate
    }

    mutating func integer(_ key: String) throws(DriverConfigurationError) -> Int? {
        switch self.take(key) {
        case nil: return nil
        case .int(let value): return Int(value)
        case .double(let value) where value.rounded() == value && abs(value) < 1e15: return Int(value)
        default: throw .invalidParameter(self.path(key), "must be an integer")
        }
    }

    mutating func boolean(_ key: String) throws(DriverConfigurationError) -> Bool? {
        switch self.take(key) {
        case nil: return nil
        case .bool(let value): return value
        default: throw .invalidParameter(self.path(key), "must be true or false")
        }
    }

    mutating func string(_ key: String) throws(DriverConfigurationError) -> String? {
        switch self.take(key) {
        case nil: return nil
        case .string(let value): return value
        default: throw .invalidParameter(self.path(key), "must be a string")
        }
    }

    mutating func duration(_ key: String) throws(DriverConfigurationError) -> Duration? {
        let duration: Duration
        switch self.take(key) {
        case nil:
            return nil
        case .int(let seconds):
            duration = .seconds(seconds)
        case .double(let seconds):
            duration = .nanoseconds(Int64((seconds * 1e9).rounded()))
        case .string(let text):
            guard let parsed = try? GoDuration.parse(text) else {
                throw .invalidParameter(self.path(key), "\"\(text)\" is not a duration such as \"90s\" or \"1m30s\"")
            }
            duration = parsed
        default:
            throw .invalidParameter(self.path(key), "must be a duration such as \"90s\", or a number of seconds")
        }
        guard duration >= .zero else { throw .invalidParameter(self.path(key), "must not be negative") }
        return duration
    }

    mutating func object(_ key: String) throws(DriverConfigurationError) -> ParameterReader? {
        guard let value = self.take(key) else { return nil }
        return try ParameterReader(value, path: self.path(key))
    }

    mutating func durationRange(
        _ key: String,
        default defaultRange: SimulatedCloudParameters.DurationRange
    ) throws(DriverConfigurationError) -> SimulatedCloudParameters.DurationRange {
        guard var range = try self.object(key) else { return defaultRange }
        let min = try range.duration("Min") ?? defaultRange.min
        let max = try range.duration("Max") ?? Swift.max(min, defaultRange.max)
        try range.rejectUnknownKeys()
        guard min <= max else { throw .invalidParameter(self.path(key), "Min must not be greater than Max") }
        return SimulatedCloudParameters.DurationRange(min: min, max: max)
    }

    func rejectUnknownKeys() throws(DriverConfigurationError) {
        if let key = self.remainingKeys.first {
            throw .invalidParameter(self.path(key), "unknown parameter")
        }
    }
}
