import CoreMetrics
import Prometheus
import Synchronization

/// The summaries of a ``MetricsRegistry``: one ``SlidingSummary`` per name and label set.
final class SummaryStore: Sendable {
    /// Help texts of Arvados's summaries (reference §5.4), printed as `# HELP` lines.
    static var helpTexts: [String: String] { MetricHelp.texts }

    let now: @Sendable () -> Duration
    let window: Duration
    let recorderNames: Set<String>

    private struct Key: Hashable {
        var name: String
        var labels: [String]
    }

    private struct Family {
        var handlers: [[String]: SummaryHandler] = [:]
        var order: [[String]] = []
    }

    private let families = Mutex<[String: Family]>([:])

    init(now: @escaping @Sendable () -> Duration, window: Duration, recorderNames: Set<String>) {
        self.now = now
        self.window = window
        self.recorderNames = recorderNames
    }

    /// The summary for `name` and `labels`, made on first use.
    func handler(name: String, labels: [(String, String)], scale: Double) -> SummaryHandler {
        let flat = labels.flatMap { [$0.0, $0.1] }
        return self.families.withLock { families in
            if let existing = families[name]?.handlers[flat] { return existing }
            let handler = SummaryHandler(
                labels: labels,
                scale: scale,
                summary: SlidingSummary(quantiles: MetricsRegistry.summaryQuantiles, maxAge: self.window),
                now: self.now
            )
            families[name, default: Family()].handlers[flat] = handler
            families[name, default: Family()].order.append(flat)
            return handler
        }
    }

    /// Forgets a summary (swift-metrics `destroy`).
    func remove(_ handler: SummaryHandler) {
        self.families.withLock { families in
            for (name, family) in families {
                guard let key = family.handlers.first(where: { $0.value === handler })?.key else { continue }
                families[name]?.handlers[key] = nil
                families[name]?.order.removeAll { $0 == key }
            }
        }
    }

    /// Appends every summary in Prometheus text format.
    func emit(into buffer: inout [UInt8]) {
        let snapshot = self.families.withLock { families in
            families.map { name, family in (name, family.order.compactMap { family.handlers[$0] }) }
        }
        var text = TextExposition()
        for (name, handlers) in snapshot.sorted(by: { $0.0 < $1.0 }) where !handlers.isEmpty {
            text.family(name, type: "summary", help: Self.helpTexts[name])
            for handler in handlers {
                let state = handler.read()
                for (quantile, value) in state.quantiles {
                    text.sample(
                        name,
                        labels: handler.labels + [("quantile", TextExposition.format(quantile))],
                        value: value
                    )
                }
                text.sample(name + "_sum", labels: handler.labels, value: state.sum)
                text.sample(name + "_count", labels: handler.labels, value: Double(state.count))
            }
        }
        buffer.append(contentsOf: text.bytes)
    }
}

/// One summary time series, fed by a swift-metrics `Timer` (in nanoseconds, scaled to seconds) or `Recorder`.
final class SummaryHandler: TimerHandler, RecorderHandler, Sendable {
    let labels: [(String, String)]
    /// What a recorded value is multiplied by: 1e-9 for timers (nanoseconds to seconds), 1 for recorders.
    let scale: Double
    private let summary: Mutex<SlidingSummary>
    private let now: @Sendable () -> Duration

    init(labels: [(String, String)], scale: Double, summary: SlidingSummary, now: @escaping @Sendable () -> Duration) {
        self.labels = labels
        self.scale = scale
        self.summary = Mutex(summary)
        self.now = now
    }

    func recordNanoseconds(_ duration: Int64) {
        self.observe(Double(duration))
    }

    func record(_ value: Int64) {
        self.observe(Double(value))
    }

    func record(_ value: Double) {
        self.observe(value)
    }

    private func observe(_ value: Double) {
        let now = self.now()
        let scaled = value * self.scale
        self.summary.withLock { $0.observe(scaled, at: now) }
    }

    func read() -> (quantiles: [(quantile: Double, value: Double?)], sum: Double, count: UInt64) {
        let now = self.now()
        return self.summary.withLock { summary in
            (summary.quantileValues(at: now), summary.sum, summary.count)
        }
    }
}

/// The swift-metrics factory of a ``MetricsRegistry``.
struct RegistryMetricsFactory: MetricsFactory {
    let prometheus: PrometheusMetricsFactory
    let summaries: SummaryStore

    // Counters and gauges are made on the registry directly, with the help text of ``MetricHelp`` (the
    // Prometheus factory gives every family an empty one).
    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        self.prometheus.registry.makeCounter(descriptor: Self.descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        self.prometheus.registry.makeCounter(descriptor: Self.descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        if aggregate && self.summaries.recorderNames.contains(label) {
            return self.summaries.handler(name: label, labels: dimensions, scale: 1)
        }
        guard aggregate else {
            return self.prometheus.registry.makeGauge(descriptor: Self.descriptor(label), labels: dimensions)
        }
        return self.prometheus.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        self.prometheus.registry.makeGauge(descriptor: Self.descriptor(label), labels: dimensions)
    }

    /// The whole name as the metric name, with its ``MetricHelp`` text.
    static func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: MetricHelp.texts[label] ?? "")
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        self.summaries.handler(name: label, labels: dimensions, scale: 1e-9)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        self.prometheus.destroyCounter(handler)
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        self.prometheus.destroyFloatingPointCounter(handler)
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let summary = handler as? SummaryHandler {
            self.summaries.remove(summary)
        } else {
            self.prometheus.destroyRecorder(handler)
        }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        self.prometheus.destroyMeter(handler)
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let summary = handler as? SummaryHandler { self.summaries.remove(summary) }
    }
}
