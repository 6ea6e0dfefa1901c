#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A transport that is polite to the API server, as Arvados's Go client is (`sdk/go/arvados/client.go`): it
/// limits the requests in flight with a ``RequestLimiter`` (start 8, cap `API.MaxConcurrentRequests/4`, halve
/// on 503, grow when answers are good) and retries 502, 503 and 504 answers with exponential back-off and
/// full jitter (1 s doubling, at most a tenth of the request's timeout, as Arvados's) until the request's
/// deadline, then returns the last answer. A request keeps its slot across its retries, as in Arvados.
/// (Arvados also honours a 503's `Retry-After`; responses here carry no headers, so it is not.)
///
/// Only these three statuses are retried: a transport error (no answer) or any other status goes back to the
/// caller at once.
public actor PoliteTransport<C: Clock>: ArvadosTransport where C.Duration == Duration {
    /// The limiter's state and the transport's counters, for metrics and tests.
    public struct Statistics: Sendable, Equatable {
        /// The current concurrency limit.
        public var limit: Int
        /// Requests in flight.
        public var inFlight: Int
        /// Requests waiting for a slot or for the quiet period to end.
        public var waiting: Int
        /// Retries made so far.
        public var retries: Int
        /// 503 answers seen so far.
        public var serviceUnavailable: Int
    }

    /// Back-off between retries: from `minimum`, doubling with full jitter, never above `maximum`.
    public struct Backoff: Sendable {
        public var minimum: Duration
        public var maximum: Duration

        public init(minimum: Duration = .seconds(1), maximum: Duration = .seconds(6)) {
            self.minimum = minimum
            self.maximum = maximum
        }

        /// The wait before retry `attempt` (1 for the first), given a jitter fraction in 0...1 and the server's
        /// `Retry-After` seconds, if any.
        public func delay(attempt: Int, jitter: Double, retryAfterSeconds: Int?) -> Duration {
            var wait: Duration
            if let seconds = retryAfterSeconds, seconds > 0 {
                wait = .seconds(min(seconds, 86_400))
            } else {
                let factor = Double(1 << min(max(attempt, 0), 30)) - 1
                wait = self.minimum + self.minimum * (factor * min(max(jitter, 0), 1))
            }
            return min(max(wait, self.minimum), self.maximum)
        }
    }

    private let base: any ArvadosTransport
    private let clock: C
    private let backoff: Backoff
    private var limiter: RequestLimiter<C.Instant>
    private var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter: UInt64 = 0
    private var retries = 0
    private var serviceUnavailable = 0
    private var lastServiceUnavailableAt: C.Instant?
    /// The wall-clock time of the last 503, read when it arrived (so it does not drift from pass to pass).
    public private(set) var lastServiceUnavailableDate: Date?
    private let onChange: (@Sendable (Statistics) -> Void)?

    /// - Parameters:
    ///   - maxConcurrentRequests: `API.MaxConcurrentRequests` (the limiter's cap is a quarter of it).
    ///   - onChange: called with the statistics after every change (the dispatcher turns them into metrics).
    public init(
        base: any ArvadosTransport,
        maxConcurrentRequests: Int,
        clock: C,
        quietPeriod: Duration = .seconds(1),
        backoff: Backoff = Backoff(),
        onChange: (@Sendable (Statistics) -> Void)? = nil
    ) {
        self.base = base
        self.clock = clock
        self.backoff = backoff
        self.limiter = RequestLimiter(maxConcurrentRequests: maxConcurrentRequests, quietPeriod: quietPeriod)
        self.onChange = onChange
    }

    /// The limiter's state and the counters now.
    public var statistics: Statistics {
        Statistics(
            limit: self.limiter.limit,
            inFlight: self.limiter.inFlight,
            waiting: self.waiters.count,
            retries: self.retries,
            serviceUnavailable: self.serviceUnavailable
        )
    }

    /// When the last 503 arrived (retried or not), as Arvados's `Client.Last503()`.
    public var lastServiceUnavailable: C.Instant? { self.lastServiceUnavailableAt }

    public func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
        let deadline = self.clock.now.advanced(by: request.timeout)
        try await self.acquire(request)
        defer { self.release() }
        var attempt = 0
        while true {
            var attemptRequest = request
            attemptRequest.timeout = max(.milliseconds(1), self.clock.now.duration(to: deadline))
            let response: ArvadosHTTPResponse
            do {
                response = try await self.base.send(attemptRequest)
            } catch {
                self.report(status: nil)
                throw error
            }
            self.report(status: response.status)
            guard [502, 503, 504].contains(response.status) else { return response }
            attempt += 1
            let wait = self.backoff.delay(attempt: attempt, jitter: Double.random(in: 0...1), retryAfterSeconds: nil)
            // Give up with the last answer when the wait would pass the deadline, as Arvados does.
            guard self.clock.now.advanced(by: wait) < deadline, !Task.isCancelled else { return response }
            self.retries += 1
            self.changed()
            do {
                try await self.clock.sleep(for: wait)
            } catch {
                return response
            }
        }
    }

    private func acquire(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) {
        while true {
            switch self.limiter.admit(at: self.clock.now) {
            case .start:
                self.changed()
                return
            case .waitUntil(let end):
                do {
                    try await self.clock.sleep(until: end, tolerance: nil)
                } catch {
                    throw ArvadosAPIError(code: .transport, message: "\(request.summary): cancelled while waiting")
                }
            case .waitForSlot:
                let id = self.nextWaiter
                self.nextWaiter &+= 1
                await withCheckedContinuation { continuation in
                    self.waiters[id] = continuation
                    self.changed()
                }
            }
        }
    }

    private func report(status: Int?) {
        if status == 503 {
            self.serviceUnavailable += 1
            self.lastServiceUnavailableAt = self.clock.now
            self.lastServiceUnavailableDate = Date()
        }
        if self.limiter.report(status: status, at: self.clock.now) { self.wakeAll() }
        self.changed()
    }

    private func release() {
        self.limiter.finished()
        // One slot freed: one waiter may take it (it asks the limiter again).
        if let first = self.waiters.keys.min(), let continuation = self.waiters.removeValue(forKey: first) {
            continuation.resume()
        }
        self.changed()
    }

    private func wakeAll() {
        let waiting = self.waiters
        self.waiters.removeAll()
        for (_, continuation) in waiting.sorted(by: { $0.key < $1.key }) { continuation.resume() }
    }

    private func changed() {
        self.onChange?(self.statistics)
    }
}
