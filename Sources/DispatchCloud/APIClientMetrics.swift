import ArvadosAPI
import CoreMetrics
import Synchronization

/// The dispatcher's API client as metrics: the request limiter's limit and requests in flight, and the
/// retries. (Arvados's client has no metrics of its own; the names follow the `arvados_dispatchcloud_` ones.)
final class APIClientMetrics: Sendable {
    static let limitName = "arvados_dispatchcloud_api_client_concurrency_limit"
    static let inFlightName = "arvados_dispatchcloud_api_client_requests_in_flight"
    static let retriesName = "arvados_dispatchcloud_api_client_retries_total"

    private let limit: Gauge
    private let inFlight: Gauge
    private let retries: Counter
    private let countedRetries = Mutex(0)

    init(factory: any MetricsFactory) {
        self.limit = Gauge(label: Self.limitName, factory: factory)
        self.inFlight = Gauge(label: Self.inFlightName, factory: factory)
        self.retries = Counter(label: Self.retriesName, factory: factory)
        self.limit.record(RequestLimiter<ContinuousClock.Instant>.initialLimit)
        self.inFlight.record(0)
    }

    func record(_ statistics: PoliteTransport<ContinuousClock>.Statistics) {
        self.limit.record(statistics.limit)
        self.inFlight.record(statistics.inFlight)
        let new = self.countedRetries.withLock { counted -> Int in
            defer { counted = max(counted, statistics.retries) }
            return max(0, statistics.retries - counted)
        }
        if new > 0 { self.retries.increment(by: new) }
    }
}
