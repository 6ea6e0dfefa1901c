import CoreMetrics
import DispatchModel
import DispatchTestSupport
import Foundation
import ManagementAPI
import Metrics
import Testing

/// `/metrics`: every `arvados_dispatchcloud_*` metric of reference §5.4, recorded through swift-metrics as the
/// pool, queue, scheduler and driver decorators record them, comes out with its name, type and labels.
@Suite("Metrics exposition")
struct MetricsExpositionTests {
    /// One metric of reference §5.4: its name (without the `arvados_dispatchcloud_` prefix), Prometheus type and
    /// label names.
    struct Expected: Sendable, CustomTestStringConvertible {
        var name: String
        var type: String
        var labels: [String]
        var testDescription: String { self.name }

        var fullName: String { "arvados_dispatchcloud_" + self.name }
    }

    static let expected: [Expected] = [
        .init(name: "driver_operations", type: "counter", labels: ["operation", "error"]),
        .init(name: "containers_running", type: "gauge", labels: []),
        .init(name: "probe_age_seconds_max", type: "gauge", labels: []),
        .init(name: "probe_age_seconds_median", type: "gauge", labels: []),
        .init(name: "instances_total", type: "gauge", labels: ["category", "instance_type"]),
        .init(name: "instances_price", type: "gauge", labels: ["category"]),
        .init(name: "vcpus_total", type: "gauge", labels: ["category"]),
        .init(name: "memory_bytes_total", type: "gauge", labels: ["category"]),
        .init(name: "boot_outcomes", type: "counter", labels: ["outcome"]),
        .init(name: "instances_disappeared", type: "counter", labels: ["state"]),
        .init(name: "instances_time_to_ssh_seconds", type: "summary", labels: []),
        .init(name: "instances_time_to_ready_for_container_seconds", type: "summary", labels: []),
        .init(name: "instances_time_from_shutdown_request_to_disappearance_seconds", type: "summary", labels: []),
        .init(name: "containers_time_from_queue_to_crunch_run_seconds", type: "summary", labels: []),
        .init(name: "instances_run_probe_duration_seconds", type: "summary", labels: ["outcome"]),
        .init(name: "containers_allocated_not_started", type: "gauge", labels: []),
        .init(name: "containers_not_allocated_over_quota", type: "gauge", labels: []),
        .init(name: "containers_longest_wait_time_seconds", type: "gauge", labels: []),
        .init(name: "last_503_time", type: "gauge", labels: []),
        .init(name: "max_concurrent_containers", type: "gauge", labels: []),
        .init(name: "at_quota", type: "gauge", labels: []),
        // Ours (Arvados counts MaxInstances in at_quota): the configured MaxInstances is reached.
        .init(name: "at_max_instances", type: "gauge", labels: []),
        // Ours: DispatchCloud.MaxHourlySpend.
        .init(name: "hourly_spend", type: "gauge", labels: []),
        .init(name: "max_hourly_spend", type: "gauge", labels: []),
        .init(name: "containers_waiting_on_spend_cap", type: "gauge", labels: []),
        .init(name: "spend_in_window", type: "gauge", labels: []),
        // Ours: containers whose instance vanished under them.
        .init(name: "preemptions_total", type: "counter", labels: ["instance_type"]),
        .init(name: "max_spend_per_day", type: "gauge", labels: []),
        .init(name: "queue_entries", type: "gauge", labels: ["state", "instance_type"]),
        .init(name: "ec2_instances", type: "gauge", labels: ["subnet_id"]),
        .init(name: "ec2_instance_starts_total", type: "counter", labels: ["subnet_id", "success"]),
    ]

    /// Records one sample of every expected metric through swift-metrics, with `factory`.
    static func recordEverything(_ factory: any MetricsFactory) {
        let prefix = "arvados_dispatchcloud_"
        for operation in ["Create", "List", "Destroy", "SetTags"] {
            for error in ["0", "1"] {
                Counter(
                    label: prefix + "driver_operations",
                    dimensions: [("operation", operation), ("error", error)],
                    factory: factory
                )
                .increment(by: error == "0" ? 2 : 0)
            }
        }
        Gauge(label: prefix + "containers_running", factory: factory).record(3)
        Gauge(label: prefix + "probe_age_seconds_max", factory: factory).record(12.5)
        Gauge(label: prefix + "probe_age_seconds_median", factory: factory).record(4.25)
        for category in ["inuse", "hold", "booting", "unknown", "idle"] {
            Gauge(
                label: prefix + "instances_total",
                dimensions: [("category", category), ("instance_type", "type1")],
                factory: factory
            )
            .record(1)
            Gauge(label: prefix + "instances_price", dimensions: [("category", category)], factory: factory).record(
                0.123
            )
            Gauge(label: prefix + "vcpus_total", dimensions: [("category", category)], factory: factory).record(1)
            Gauge(label: prefix + "memory_bytes_total", dimensions: [("category", category)], factory: factory)
                .record(1_181_116_006)
        }
        for outcome in ["success", "failure", "aborted", "disappeared"] {
            Counter(label: prefix + "boot_outcomes", dimensions: [("outcome", outcome)], factory: factory).increment()
        }
        for state in ["unknown", "booting", "idle", "running", "shutdown"] {
            Counter(label: prefix + "instances_disappeared", dimensions: [("state", state)], factory: factory)
                .increment(by: 0)
        }
        Timer(label: prefix + "instances_time_to_ssh_seconds", factory: factory).recordSeconds(42)
        Timer(label: prefix + "instances_time_to_ready_for_container_seconds", factory: factory).recordSeconds(3)
        Timer(label: prefix + "instances_time_from_shutdown_request_to_disappearance_seconds", factory: factory)
            .recordSeconds(20)
        Timer(label: prefix + "containers_time_from_queue_to_crunch_run_seconds", factory: factory).recordSeconds(75)
        Timer(
            label: prefix + "instances_run_probe_duration_seconds",
            dimensions: [("outcome", "success")],
            factory: factory
        )
        .recordMilliseconds(250)
        Timer(
            label: prefix + "instances_run_probe_duration_seconds",
            dimensions: [("outcome", "fail")],
            factory: factory
        )
        .recordSeconds(10)
        for name in [
            "containers_allocated_not_started", "containers_not_allocated_over_quota",
            "containers_longest_wait_time_seconds", "last_503_time", "max_concurrent_containers", "at_quota",
            "at_max_instances", "hourly_spend", "max_hourly_spend", "containers_waiting_on_spend_cap",
            "spend_in_window", "max_spend_per_day",
        ] {
            Gauge(label: prefix + name, factory: factory).record(1)
        }
        Gauge(
            label: prefix + "queue_entries",
            dimensions: [("state", "Queued"), ("instance_type", "type1")],
            factory: factory
        )
        .record(2)
        Gauge(label: prefix + "ec2_instances", dimensions: [("subnet_id", "subnet-1")], factory: factory).record(1)
        Counter(label: prefix + "preemptions_total", dimensions: [("instance_type", "type1")], factory: factory)
            .increment()
        Counter(
            label: prefix + "ec2_instance_starts_total",
            dimensions: [("subnet_id", "subnet-1"), ("success", "1")],
            factory: factory
        )
        .increment()
    }

    @Test("Every §5.4 metric has its type line and its label set", arguments: Self.expected)
    func everyMetric(expected: Expected) throws {
        let registry = MetricsRegistry(version: "1.2.3")
        Self.recordEverything(registry.factory)
        let exposition = Exposition(registry.render())
        #expect(exposition.types[expected.fullName] == expected.type)
        let samples = exposition.samples.filter { $0.name == expected.fullName }
        #expect(!samples.isEmpty, "no samples of \(expected.fullName)")
        for sample in samples {
            let labelNames = Set(sample.labels.keys).subtracting(["quantile"])
            #expect(labelNames == Set(expected.labels), "\(sample)")
        }
        if expected.type == "summary" {
            let quantiles = Set(samples.compactMap { $0.labels["quantile"] })
            #expect(quantiles == ["0.5", "0.9", "0.95", "0.99"])
            #expect(exposition.samples.contains { $0.name == expected.fullName + "_sum" })
            #expect(exposition.samples.contains { $0.name == expected.fullName + "_count" })
        }
    }

    @Test("Values come out as recorded: counters, gauges, and timers as summaries in seconds")
    func values() throws {
        let registry = MetricsRegistry(version: "1.2.3")
        Self.recordEverything(registry.factory)
        let exposition = Exposition(registry.render())
        let prefix = "arvados_dispatchcloud_"
        #expect(exposition.value(prefix + "driver_operations", ["operation": "Create", "error": "0"]) == 2)
        #expect(exposition.value(prefix + "driver_operations", ["operation": "Create", "error": "1"]) == 0)
        #expect(exposition.value(prefix + "probe_age_seconds_max") == 12.5)
        #expect(exposition.value(prefix + "instances_total", ["category": "hold", "instance_type": "type1"]) == 1)
        #expect(exposition.value(prefix + "instances_time_to_ssh_seconds", ["quantile": "0.5"]) == 42)
        #expect(exposition.value(prefix + "instances_time_to_ssh_seconds_sum") == 42)
        #expect(exposition.value(prefix + "instances_time_to_ssh_seconds_count") == 1)
        #expect(
            exposition.value(
                prefix + "instances_run_probe_duration_seconds",
                ["outcome": "success", "quantile": "0.99"]
            )
                == 0.25
        )
        #expect(exposition.value(prefix + "instances_run_probe_duration_seconds_count", ["outcome": "fail"]) == 1)
    }

    @Test("The service metrics report the version, the configuration and the process start time")
    func serviceMetrics() throws {
        let registry = MetricsRegistry(version: "1.2.3")
        registry.setConfig(sha256: "abc123", sourceTimestamp: .init(timeIntervalSince1970: 1_700_000_000))
        let exposition = Exposition(registry.render())
        #expect(exposition.types["arvados_version_running"] == "gauge")
        #expect(exposition.value("arvados_version_running", ["version": "1.2.3"]) == 1)
        #expect(exposition.value("arvados_config_source_timestamp_seconds", ["sha256": "abc123"]) == 1_700_000_000)
        #expect(exposition.value("arvados_config_load_timestamp_seconds", ["sha256": "abc123"]) != nil)
        let start = try #require(exposition.value("process_start_time_seconds"))
        let now = Double(Timestamp.now().secondsSince1970)
        #expect(start > now - 86_400 * 30 && start <= now + 1)
        #expect(exposition.types["process_cpu_seconds_total"] == "counter")
        #expect((exposition.value("process_resident_memory_bytes") ?? 0) > 0)
        #expect((exposition.value("process_open_fds") ?? 0) > 0)
    }

    @Test("Aggregating recorders named as summaries become summaries; others become histograms")
    func recorders() throws {
        let registry = MetricsRegistry(version: "t", summaryRecorderNames: ["sizes_as_summary"])
        Recorder(label: "sizes_as_summary", factory: registry.factory).record(5)
        Recorder(label: "sizes_as_histogram", factory: registry.factory).record(5)
        let exposition = Exposition(registry.render())
        #expect(exposition.types["sizes_as_summary"] == "summary")
        #expect(exposition.types["sizes_as_histogram"] == "histogram")
        #expect(exposition.value("sizes_as_summary", ["quantile": "0.9"]) == 5)
    }

    @Test("Bootstrapping routes the process-wide swift-metrics API into the registry, once")
    func bootstrap() throws {
        let registry = MetricsRegistry(version: "t")
        #expect(registry.bootstrap())
        #expect(!MetricsRegistry(version: "other").bootstrap())
        Counter(label: "dispatch_cloud_bootstrap_test_total", dimensions: [("case", "global")]).increment(by: 3)
        Timer(label: "dispatch_cloud_bootstrap_test_seconds").recordSeconds(2)
        let exposition = Exposition(registry.render())
        #expect(exposition.value("dispatch_cloud_bootstrap_test_total", ["case": "global"]) == 3)
        #expect(exposition.types["dispatch_cloud_bootstrap_test_seconds"] == "summary")
    }
}

/// A parsed Prometheus text exposition.
struct Exposition: Sendable {
    struct Sample: Sendable, CustomStringConvertible {
        var name: String
        var labels: [String: String]
        var value: Double
        var description: String { "\(self.name)\(self.labels) \(self.value)" }
    }

    var types: [String: String] = [:]
    var samples: [Sample] = []

    init(_ text: String) {
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                if parts.count == 4 {
                    #expect(self.types[String(parts[2])] == nil, "duplicate TYPE line for \(parts[2])")
                    self.types[String(parts[2])] = String(parts[3])
                }
                continue
            }
            if line.hasPrefix("#") { continue }
            guard let space = line.lastIndex(of: " ") else { continue }
            let series = line[..<space]
            let value = Double(line[line.index(after: space)...]) ?? .nan
            var labels: [String: String] = [:]
            var name = String(series)
            if let brace = series.firstIndex(of: "{") {
                name = String(series[..<brace])
                let body = series[series.index(after: brace)..<(series.lastIndex(of: "}") ?? series.endIndex)]
                for pair in body.split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
                }
            }
            self.samples.append(Sample(name: name, labels: labels, value: value))
        }
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        self.samples.first { $0.name == name && $0.labels == labels }?.value
    }
}
