/// The observations of a Prometheus summary over a sliding time window, with its running sum and count.
///
/// swift-prometheus has no summary; Arvados's timing metrics are Go `prometheus.Summary` values (quantiles 0.5,
/// 0.9, 0.95, 0.99 over the last 10 minutes, in 5 age buckets). This keeps the observations of the window in
/// ``ageBuckets`` buckets of `maxAge / ageBuckets` each and computes exact nearest-rank quantiles over the
/// buckets still inside the window; ``sum`` and ``count`` cover every observation ever made, as in Go.
/// Time is passed in (as the duration since any fixed origin), so tests move it by hand.
public struct SlidingSummary: Sendable {
    /// The quantiles reported, in `0...1`.
    public let quantiles: [Double]
    /// How long an observation counts towards the quantiles.
    public let maxAge: Duration
    /// How many buckets the window is cut into; an observation leaves the window with its bucket.
    public let ageBuckets: Int
    /// At most this many observations are kept per bucket (further ones replace random earlier ones).
    public let bucketCapacity: Int

    /// The sum of every observation.
    public private(set) var sum: Double = 0
    /// The number of observations.
    public private(set) var count: UInt64 = 0

    private struct Bucket: Sendable {
        var epoch: Int64
        var values: [Double]
        var seen: Int
    }

    private var buckets: [Bucket] = []

    public init(
        quantiles: [Double] = [0.5, 0.9, 0.95, 0.99],
        maxAge: Duration = .seconds(600),
        ageBuckets: Int = 5,
        bucketCapacity: Int = 2048
    ) {
        precondition(ageBuckets > 0 && maxAge > .zero && bucketCapacity > 0)
        self.quantiles = quantiles
        self.maxAge = maxAge
        self.ageBuckets = ageBuckets
        self.bucketCapacity = bucketCapacity
    }

    /// Records one observation made at `now`.
    public mutating func observe(_ value: Double, at now: Duration) {
        self.sum += value
        self.count += 1
        let epoch = self.epoch(of: now)
        self.expire(at: now)
        if self.buckets.last?.epoch != epoch {
            self.buckets.append(Bucket(epoch: epoch, values: [], seen: 0))
        }
        let last = self.buckets.count - 1
        self.buckets[last].seen += 1
        if self.buckets[last].values.count < self.bucketCapacity {
            self.buckets[last].values.append(value)
        } else {
            // Reservoir sampling keeps the bucket a uniform sample of what it saw.
            let slot = Int.random(in: 0..<self.buckets[last].seen)
            if slot < self.bucketCapacity { self.buckets[last].values[slot] = value }
        }
    }

    /// Each quantile with its value over the window ending at `now`; `nil` values when the window is empty
    /// (exposed as `NaN`, as Go does).
    public mutating func quantileValues(at now: Duration) -> [(quantile: Double, value: Double?)] {
        self.expire(at: now)
        let sorted = self.buckets.flatMap(\.values).sorted()
        return self.quantiles.map { quantile in
            guard !sorted.isEmpty else { return (quantile, nil) }
            let rank = Int((quantile * Double(sorted.count)).rounded(.up)) - 1
            return (quantile, sorted[min(max(rank, 0), sorted.count - 1)])
        }
    }

    private var bucketSpan: Duration { self.maxAge / self.ageBuckets }

    private func epoch(of now: Duration) -> Int64 {
        let span = self.bucketSpan
        let spanNanoseconds =
            Int64(span.components.seconds) * 1_000_000_000 + span.components.attoseconds / 1_000_000_000
        let nowNanoseconds = Int64(now.components.seconds) * 1_000_000_000 + now.components.attoseconds / 1_000_000_000
        let quotient = nowNanoseconds / max(spanNanoseconds, 1)
        return nowNanoseconds < 0 && nowNanoseconds % max(spanNanoseconds, 1) != 0 ? quotient - 1 : quotient
    }

    private mutating func expire(at now: Duration) {
        let oldestKept = self.epoch(of: now) - Int64(self.ageBuckets) + 1
        self.buckets.removeAll { $0.epoch < oldestKept }
    }
}
