/// Arvados's client-side request limiter (`sdk/go/arvados/limiter.go`, Arvados #20511) as a value: how many
/// API requests may be in flight, adapted to the server's answers.
///
/// It starts at ``initialLimit`` (8) concurrent requests. A 503 halves the limit (rounding up, never below 1)
/// and starts a quiet period in which no new request starts and further 503s do not halve it again. Each
/// success (2xx or 3xx) grows the limit by a tenth (at least 1), to no more than twice the requests then in
/// flight and no more than ``maximumLimit`` (a quarter of `API.MaxConcurrentRequests`; 0: no cap).
///
/// One difference from Arvados, on purpose: the initial limit is capped by ``maximumLimit`` too (Arvados
/// applies the cap only after the first success).
public struct RequestLimiter<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// Arvados's `requestLimiterInitialLimit`.
    public static var initialLimit: Int { 8 }

    /// The current limit on requests in flight (at least 1).
    public private(set) var limit: Int
    /// Requests in flight.
    public private(set) var inFlight = 0
    /// The cap on ``limit``; 0 for none.
    public let maximumLimit: Int
    /// How long after a 503 no request starts (Arvados: one second).
    public let quietPeriod: Duration
    /// The end of the current quiet period, if any.
    public private(set) var quietUntil: Instant?

    /// What a request that wants to start must do.
    public enum Admission: Equatable, Sendable {
        /// Start now (``started()`` has been counted).
        case start
        /// Wait until the quiet period ends, then ask again.
        case waitUntil(Instant)
        /// Wait until a request finishes, then ask again.
        case waitForSlot
    }

    /// - Parameter maxConcurrentRequests: `API.MaxConcurrentRequests`; the cap is a quarter of it.
    public init(maxConcurrentRequests: Int, quietPeriod: Duration = .seconds(1)) {
        let cap = max(0, maxConcurrentRequests / 4)
        self.maximumLimit = cap
        self.limit = cap > 0 ? min(Self.initialLimit, cap) : Self.initialLimit
        self.quietPeriod = quietPeriod
    }

    /// Admits a request at `now` or says what to wait for.
    public mutating func admit(at now: Instant) -> Admission {
        if let quietUntil = self.quietUntil, now < quietUntil { return .waitUntil(quietUntil) }
        guard self.inFlight < self.limit else { return .waitForSlot }
        self.inFlight += 1
        return .start
    }

    /// Takes an answer into account: `status` is the HTTP status, `nil` for a request that got none. Returns
    /// whether waiting requests may now find a free slot (the limit grew).
    @discardableResult
    public mutating func report(status: Int?, at now: Instant) -> Bool {
        guard let status else { return false }
        if status == 503 {
            if self.quietUntil.map({ now >= $0 }) ?? true {
                self.limit = max(1, (self.limit + 1) / 2)
                self.quietUntil = now.advanced(by: self.quietPeriod)
            }
            return false
        }
        guard (200..<400).contains(status) else { return false }
        let before = self.limit
        var grown = self.limit + max(1, self.limit / 10)
        grown = min(grown, max(1, self.inFlight.multipliedReportingOverflow(by: 2).partialValue))
        if self.maximumLimit > 0 { grown = min(grown, self.maximumLimit) }
        self.limit = max(1, grown)
        return self.limit > before
    }

    /// A request in flight finished (after its last ``report(status:at:)``).
    public mutating func finished() {
        self.inFlight = max(0, self.inFlight - 1)
    }
}
