import CoreMetrics
import DispatchModel

/// The pool's metrics, with the names and labels of Arvados's (reference §5.4, namespace `arvados`,
/// subsystem `dispatchcloud`). Summaries are timers here; the exposition turns them into quantiles.
struct PoolMetrics: Sendable {
    static let prefix = "arvados_dispatchcloud_"

    /// The names of every metric the pool records.
    enum Name {
        static let containersRunning = prefix + "containers_running"
        static let probeAgeMax = prefix + "probe_age_seconds_max"
        static let probeAgeMedian = prefix + "probe_age_seconds_median"
        /// Ours: how long the last probe round over every worker took, from its first probe start to its last.
        static let probeRound = prefix + "probe_round_duration_seconds"
        static let instancesTotal = prefix + "instances_total"
        static let instancesPrice = prefix + "instances_price"
        static let vcpusTotal = prefix + "vcpus_total"
        static let memoryBytesTotal = prefix + "memory_bytes_total"
        static let bootOutcomes = prefix + "boot_outcomes"
        static let instancesDisappeared = prefix + "instances_disappeared"
        /// Ours: containers whose instance vanished under them (a spot preemption, or any loss the dispatcher did
        /// not ask for), by instance type.
        static let preemptions = prefix + "preemptions_total"
        static let timeToSSH = prefix + "instances_time_to_ssh_seconds"
        static let timeToReady = prefix + "instances_time_to_ready_for_container_seconds"
        static let timeFromShutdownToGone = prefix + "instances_time_from_shutdown_request_to_disappearance_seconds"
        static let timeFromQueueToRunner = prefix + "containers_time_from_queue_to_crunch_run_seconds"
        static let runProbeDuration = prefix + "instances_run_probe_duration_seconds"
        static let quarantines = prefix + "boot_quarantines_total"
        static let quarantined = prefix + "instance_types_quarantined"
    }

    /// The `category` label values of the instance gauges.
    static let categories = ["inuse", "hold", "booting", "unknown", "idle"]

    let factory: any MetricsFactory
    /// Whether the metrics go anywhere: not when the factory is swift-metrics' no-op one (a simulation's), so
    /// the pool need not compute its gauges.
    let recorded: Bool
    let containersRunning: Gauge
    let probeAgeMax: Gauge
    let probeAgeMedian: Gauge
    let probeRound: Gauge
    let bootOutcomes: [BootOutcome: Counter]
    let disappeared: [WorkerState: Counter]
    let timeToSSH: Timer
    let timeToReady: Timer
    let timeFromShutdownToGone: Timer
    let timeFromQueueToRunner: Timer
    let runProbeSuccess: Timer
    let runProbeFailure: Timer
    /// Quarantines started (``BootQuarantine``).
    let quarantines: Counter
    /// Instance types quarantined now.
    let quarantined: Gauge
    let price: [String: Gauge]
    let vcpus: [String: Gauge]
    let memory: [String: Gauge]

    init(factory: any MetricsFactory) {
        self.factory = factory
        self.recorded = !(factory is NOOPMetricsHandler)
        self.containersRunning = Gauge(label: Name.containersRunning, factory: factory)
        self.probeAgeMax = Gauge(label: Name.probeAgeMax, factory: factory)
        self.probeAgeMedian = Gauge(label: Name.probeAgeMedian, factory: factory)
        self.probeRound = Gauge(label: Name.probeRound, factory: factory)
        var outcomes: [BootOutcome: Counter] = [:]
        for outcome in BootOutcome.allCases {
            outcomes[outcome] = Counter(
                label: Name.bootOutcomes,
                dimensions: [("outcome", outcome.rawValue)],
                factory: factory
            )
        }
        self.bootOutcomes = outcomes
        var disappeared: [WorkerState: Counter] = [:]
        for state in WorkerState.allCases {
            disappeared[state] = Counter(
                label: Name.instancesDisappeared,
                dimensions: [("state", state.rawValue)],
                factory: factory
            )
        }
        self.disappeared = disappeared
        self.quarantines = Counter(label: Name.quarantines, factory: factory)
        self.quarantined = Gauge(label: Name.quarantined, factory: factory)
        self.timeToSSH = Timer(label: Name.timeToSSH, factory: factory)
        self.timeToReady = Timer(label: Name.timeToReady, factory: factory)
        self.timeFromShutdownToGone = Timer(label: Name.timeFromShutdownToGone, factory: factory)
        self.timeFromQueueToRunner = Timer(label: Name.timeFromQueueToRunner, factory: factory)
        self.runProbeSuccess = Timer(
            label: Name.runProbeDuration,
            dimensions: [("outcome", "success")],
            factory: factory
        )
        self.runProbeFailure = Timer(label: Name.runProbeDuration, dimensions: [("outcome", "fail")], factory: factory)
        func perCategory(_ label: String) -> [String: Gauge] {
            Dictionary(
                uniqueKeysWithValues: Self.categories.map {
                    ($0, Gauge(label: label, dimensions: [("category", $0)], factory: factory))
                }
            )
        }
        self.price = perCategory(Name.instancesPrice)
        self.vcpus = perCategory(Name.vcpusTotal)
        self.memory = perCategory(Name.memoryBytesTotal)
    }

    /// The `instances_total` gauge for one category and instance type.
    func instances(category: String, type: InstanceTypeName) -> Gauge {
        Gauge(
            label: Name.instancesTotal,
            dimensions: [("category", category), ("instance_type", type.rawValue)],
            factory: self.factory
        )
    }

    /// The category an instance counts in: `inuse` with containers, else `hold`, `booting`, `unknown`, or
    /// `idle` (which includes shutting-down instances, as in Arvados).
    static func category(state: WorkerState, behavior: IdleBehavior, containers: Int) -> String {
        if containers > 0 { return "inuse" }
        if behavior == .hold { return "hold" }
        switch state {
        case .booting: return "booting"
        case .unknown: return "unknown"
        default: return "idle"
        }
    }

    /// Counts `count` containers lost with an instance of `type`.
    func recordPreemptions(_ count: Int, type: InstanceTypeName) {
        Counter(label: Name.preemptions, dimensions: [("instance_type", type.rawValue)], factory: self.factory)
            .increment(by: count)
    }
}
