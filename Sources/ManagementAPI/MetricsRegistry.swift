public import CoreMetrics
public import Foundation
public import Prometheus
import Synchronization

/// The dispatcher's metrics: swift-metrics on top of swift-prometheus, plus the summaries and process metrics
/// that swift-prometheus lacks, rendered together as the Prometheus text of `GET /metrics`.
///
/// Call ``bootstrap()`` once at startup so every `Counter`, `Gauge`, `Recorder` and `Timer` made through
/// swift-metrics lands here. Or pass ``factory`` to code that takes a factory (the worker pool and the driver
/// decorators do), which is also how tests use a registry without touching the process-wide metrics system.
///
/// Routing of swift-metrics types:
/// - counters → Prometheus counters; gauges (`Gauge`, non-aggregating `Recorder`) and meters → gauges;
/// - every `Timer` → a summary in seconds (Arvados's timing metrics are all summaries);
/// - an aggregating `Recorder` → a summary when its label is in `summaryRecorderNames`, else a Prometheus
///   histogram.
public final class MetricsRegistry: Sendable {
    /// Arvados's summary quantiles.
    public static let summaryQuantiles = [0.5, 0.9, 0.95, 0.99]

    /// The registry of counters, gauges and histograms.
    public let prometheus: PrometheusCollectorRegistry
    /// The version string `arvados_version_running{version}` reports.
    public let version: String
    let summaries: SummaryStore
    private let configInfo = Mutex<ConfigInfo?>(nil)
    private let processStart: Double

    struct ConfigInfo: Sendable {
        var sha256: String
        var sourceTimestamp: Double?
        var loadTimestamp: Double
    }

    /// Makes an empty registry.
    ///
    /// - Parameters:
    ///   - version: reported by `arvados_version_running{version="…"} 1`.
    ///   - clock: the clock that ages summary observations out of their window.
    ///   - summaryWindow: how long an observation counts towards the quantiles (Go's default, 10 minutes).
    ///   - summaryRecorderNames: aggregating recorders that become summaries rather than histograms.
    public init<C: Clock>(
        version: String,
        clock: C,
        summaryWindow: Duration = .seconds(600),
        summaryRecorderNames: Set<String> = []
    ) where C.Duration == Duration {
        self.prometheus = PrometheusCollectorRegistry()
        self.version = version
        let start = clock.now
        self.summaries = SummaryStore(
            now: { start.duration(to: clock.now) },
            window: summaryWindow,
            recorderNames: summaryRecorderNames
        )
        self.processStart = ProcessStatistics.startTime() ?? Date().timeIntervalSince1970
    }

    /// Makes an empty registry whose summaries age on the continuous clock.
    public convenience init(
        version: String,
        summaryWindow: Duration = .seconds(600),
        summaryRecorderNames: Set<String> = []
    ) {
        self.init(
            version: version,
            clock: ContinuousClock(),
            summaryWindow: summaryWindow,
            summaryRecorderNames: summaryRecorderNames
        )
    }

    /// The swift-metrics factory that records into this registry.
    public var factory: any MetricsFactory {
        RegistryMetricsFactory(
            prometheus: PrometheusMetricsFactory(registry: self.prometheus),
            summaries: self.summaries
        )
    }

    private static let bootstrapped = Mutex(false)

    /// Makes this registry the process-wide swift-metrics backend (`MetricsSystem.bootstrap`).
    ///
    /// swift-metrics allows one bootstrap per process; a second call (with any registry) does nothing and
    /// returns `false`.
    @discardableResult
    public func bootstrap() -> Bool {
        let first = Self.bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        if first { MetricsSystem.bootstrap(self.factory) }
        return first
    }

    /// Records which configuration is loaded, for `arvados_config_source_timestamp_seconds{sha256}` and
    /// `arvados_config_load_timestamp_seconds{sha256}`.
    public func setConfig(sha256: String, sourceTimestamp: Date?, loadTimestamp: Date = Date()) {
        self.configInfo.withLock {
            $0 = ConfigInfo(
                sha256: sha256,
                sourceTimestamp: sourceTimestamp?.timeIntervalSince1970,
                loadTimestamp: loadTimestamp.timeIntervalSince1970
            )
        }
    }

    /// The whole exposition as UTF-8 text.
    public func exposition() -> [UInt8] {
        var buffer = self.prometheus.emitToBuffer()
        self.summaries.emit(into: &buffer)
        self.emitServiceMetrics(into: &buffer)
        return buffer
    }

    /// The whole exposition as a string.
    public func render() -> String {
        String(decoding: self.exposition(), as: UTF8.self)
    }

    private func emitServiceMetrics(into buffer: inout [UInt8]) {
        var text = TextExposition()
        text.family("arvados_version_running", type: "gauge", help: "Indicated version is running.")
        text.sample("arvados_version_running", labels: [("version", self.version)], value: 1)
        if let config = self.configInfo.withLock({ $0 }) {
            text.family(
                "arvados_config_load_timestamp_seconds",
                type: "gauge",
                help: "Time when config file was loaded."
            )
            text.sample(
                "arvados_config_load_timestamp_seconds",
                labels: [("sha256", config.sha256)],
                value: config.loadTimestamp
            )
            if let source = config.sourceTimestamp {
                text.family(
                    "arvados_config_source_timestamp_seconds",
                    type: "gauge",
                    help: "Timestamp of config file when it was loaded."
                )
                text.sample(
                    "arvados_config_source_timestamp_seconds",
                    labels: [("sha256", config.sha256)],
                    value: source
                )
            }
        }
        let process = ProcessStatistics.current()
        text.family(
            "process_start_time_seconds",
            type: "gauge",
            help: "Start time of the process since unix epoch in seconds."
        )
        text.sample("process_start_time_seconds", value: self.processStart)
        if let cpu = process.cpuSeconds {
            text.family(
                "process_cpu_seconds_total",
                type: "counter",
                help: "Total user and system CPU time spent in seconds."
            )
            text.sample("process_cpu_seconds_total", value: cpu)
        }
        if let resident = process.residentMemoryBytes {
            text.family("process_resident_memory_bytes", type: "gauge", help: "Resident memory size in bytes.")
            text.sample("process_resident_memory_bytes", value: resident)
        }
        if let virtual = process.virtualMemoryBytes {
            text.family("process_virtual_memory_bytes", type: "gauge", help: "Virtual memory size in bytes.")
            text.sample("process_virtual_memory_bytes", value: virtual)
        }
        if let open = process.openFileDescriptors {
            text.family("process_open_fds", type: "gauge", help: "Number of open file descriptors.")
            text.sample("process_open_fds", value: open)
        }
        if let maximum = process.maximumFileDescriptors {
            text.family("process_max_fds", type: "gauge", help: "Maximum number of open file descriptors.")
            text.sample("process_max_fds", value: maximum)
        }
        buffer.append(contentsOf: text.bytes)
    }
}

/// Prometheus text-format lines (version 0.0.4).
struct TextExposition {
    private(set) var bytes: [UInt8] = []

    mutating func family(_ name: String, type: String, help: String? = nil) {
        if let help {
            let escaped = help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
            self.bytes.append(contentsOf: "# HELP \(name) \(escaped)\n".utf8)
        }
        self.bytes.append(contentsOf: "# TYPE \(name) \(type)\n".utf8)
    }

    mutating func sample(_ name: String, labels: [(String, String)] = [], value: Double?) {
        var line = name
        if !labels.isEmpty {
            line += "{"
            line += labels.map { "\($0.0)=\"\(Self.escapeLabelValue($0.1))\"" }.joined(separator: ",")
            line += "}"
        }
        line += " " + Self.format(value) + "\n"
        self.bytes.append(contentsOf: line.utf8)
    }

    static func escapeLabelValue(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// A sample value: `NaN` for none, `+Inf`/`-Inf`, integers without a fraction, else Swift's shortest form.
    static func format(_ value: Double?) -> String {
        guard let value, !value.isNaN else { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
