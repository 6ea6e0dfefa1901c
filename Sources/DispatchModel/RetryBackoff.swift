/// How long to wait before retrying a call that keeps failing: exponential from ``initial``, capped at
/// ``maximum``, with jitter so that many callers failing together do not retry together.
///
/// The delay after the n-th failure in a row is `min(initial × 2ⁿ⁻¹, maximum)` scaled by a jitter factor in
/// `0.5...1` ("equal jitter"), so it is never less than half the exponential step: a caller that retries
/// only after its delay makes a bounded number of attempts in any period.
public struct RetryBackoff: Hashable, Sendable {
    /// The delay after the first failure, before jitter.
    public var initial: Duration
    /// The longest delay, before jitter.
    public var maximum: Duration
    /// Failures in a row since the last success.
    public private(set) var failures = 0

    public init(initial: Duration = .seconds(1), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = max(initial, maximum)
    }

    /// The delay before the next attempt, `min(initial × 2ⁿ⁻¹, maximum)` for the n-th failure in a row, before
    /// jitter; it saturates at ``maximum`` however many failures there were.
    public var step: Duration {
        guard self.failures > 0 else { return .zero }
        var delay = self.initial
        for _ in 1..<min(self.failures, 64) {
            guard delay < self.maximum else { break }
            delay = delay * 2
        }
        return min(delay, self.maximum)
    }

    /// Counts one more failure and returns how long to wait before trying again: ``step`` times `jitter`,
    /// which is clamped to `0.5...1`.
    public mutating func failed(jitter: Double = 0.5 + Jitter.fraction() / 2) -> Duration {
        if self.failures < Int.max { self.failures += 1 }
        let factor = jitter.isFinite ? min(max(jitter, 0.5), 1) : 1
        return self.step * factor
    }

    /// Forgets the failures: the next failure waits ``initial`` again.
    public mutating func succeeded() {
        self.failures = 0
    }
}

/// Decides when a call that keeps failing is logged: its first failure at once, then at most one line per
/// ``interval`` saying how many times it failed meanwhile and the last error, so a bad hour costs a bounded
/// number of log lines.
public struct RepeatedFailureLog<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// What to log: `<operation> failed <count> times in the last <window>: <lastError>`.
    public struct Line: Hashable, Sendable, CustomStringConvertible {
        /// Failures since the previous line (1 for a first failure).
        public var count: Int
        /// The time since the previous line, or zero for a first failure.
        public var window: Duration
        /// The most recent failure's description.
        public var lastError: String

        public init(count: Int, window: Duration, lastError: String) {
            self.count = count
            self.window = window
            self.lastError = lastError
        }

        public var description: String {
            guard self.count > 1 || self.window > .zero else { return "failed: \(self.lastError)" }
            let seconds = self.window.components.seconds
            return "failed \(self.count) times in the last \(seconds) s: \(self.lastError)"
        }
    }

    /// The shortest time between two lines.
    public var interval: Duration
    private var lastLine: Instant?
    private var pending = 0
    private var lastError = ""

    public init(interval: Duration = .seconds(60)) {
        self.interval = interval
    }

    /// Failures counted but not logged yet.
    public var unlogged: Int { self.pending }

    /// Counts a failure; returns the line to log now, if one is due.
    public mutating func failed(_ error: String, at now: Instant) -> Line? {
        if self.pending < Int.max { self.pending += 1 }
        self.lastError = error
        guard let last = self.lastLine else {
            self.lastLine = now
            self.pending = 0
            return Line(count: 1, window: .zero, lastError: error)
        }
        guard last.duration(to: now) >= self.interval else { return nil }
        return self.flush(at: now)
    }

    /// The call succeeded: returns a last line for the failures not logged yet, if any, and starts over so the
    /// next failure is logged at once.
    public mutating func succeeded(at now: Instant) -> Line? {
        defer {
            self.lastLine = nil
            self.pending = 0
        }
        guard self.pending > 0 else { return nil }
        return self.flush(at: now)
    }

    private mutating func flush(at now: Instant) -> Line {
        let line = Line(
            count: self.pending,
            window: self.lastLine.map { $0.duration(to: now) } ?? .zero,
            lastError: self.lastError
        )
        self.lastLine = now
        self.pending = 0
        return line
    }
}
