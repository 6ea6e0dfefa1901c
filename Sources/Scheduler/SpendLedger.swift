/// Money the instances have actually spent, by minute, over a rolling 24 hours (`DispatchCloud.MaxSpendPerDay`).
///
/// The owner calls ``account(hourlySpend:until:maxGap:)`` every few seconds with the summed hourly price of the
/// instances that exist (spot at its current price); the time since the last call is charged second by second
/// into minute buckets. A value, so its owner persists it (as JSON) and tests drive it with plain times.
public struct SpendLedger: Hashable, Sendable, Codable {
    /// The rolling window, in seconds.
    public static let window: Int64 = 86_400
    /// The bucket width, in seconds.
    public static let bucket: Int64 = 60

    /// Money spent per minute, keyed by the minute's start (Unix seconds, a multiple of ``bucket``).
    public private(set) var minutes: [Int64: Double]
    /// The Unix second up to which spending is accounted; `nil` before the first call.
    public private(set) var accountedUntil: Int64?

    public init() {
        self.minutes = [:]
        self.accountedUntil = nil
    }

    /// Charges `hourlySpend` per hour for every second from the last call to `now`.
    ///
    /// A gap longer than `maxGap` (the dispatcher was not running) is not charged: nobody knows what ran
    /// meanwhile. A `now` before the last call (the wall clock stepped back) charges nothing.
    ///
    /// - Returns: the seconds charged.
    @discardableResult
    public mutating func account(hourlySpend: Double, until now: Int64, maxGap: Int64) -> Int64 {
        defer { self.prune(now: now) }
        guard let from = self.accountedUntil, from < now else {
            if self.accountedUntil.map({ now > $0 }) ?? true { self.accountedUntil = now }
            return 0
        }
        self.accountedUntil = now
        let (elapsed, overflow) = now.subtractingReportingOverflow(from)
        guard !overflow, elapsed <= maxGap, hourlySpend.isFinite, hourlySpend > 0 else { return 0 }
        var start = from
        while start < now {
            let minute = Self.minute(of: start)
            let end = min(now, minute + Self.bucket)
            self.minutes[minute, default: 0] += hourlySpend * Double(end - start) / 3600
            start = end
        }
        return elapsed
    }

    /// The money spent in the 24 hours up to `now` (a minute partly in the window counts whole).
    public func spent(at now: Int64) -> Double {
        let start = now - Self.window
        return self.minutes.reduce(0) { $0 + ($1.key + Self.bucket > start ? $1.value : 0) }
    }

    /// The money that leaves the window between `now` and `now + seconds`.
    public func freed(at now: Int64, within seconds: Int64) -> Double {
        let start = now - Self.window
        let later = now + seconds - Self.window
        return self.minutes.reduce(0) { total, entry in
            let end = entry.key + Self.bucket
            return total + (end > start && end <= later ? entry.value : 0)
        }
    }

    /// Drops the minutes that have left the window.
    mutating func prune(now: Int64) {
        let start = now - Self.window
        if self.minutes.keys.contains(where: { $0 + Self.bucket <= start }) {
            self.minutes = self.minutes.filter { $0.key + Self.bucket > start }
        }
    }

    private static func minute(of second: Int64) -> Int64 {
        let remainder = second % Self.bucket
        return second - (remainder < 0 ? remainder + Self.bucket : remainder)
    }

    // Decoding checks what a file may hold: minute keys, finite non-negative amounts.
    enum CodingKeys: String, CodingKey {
        case minutes
        case accountedUntil
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let raw = try container.decode([String: Double].self, forKey: .minutes)
        var minutes: [Int64: Double] = [:]
        for (key, value) in raw {
            guard let minute = Int64(key), minute % Self.bucket == 0, minute.magnitude < 1 << 40, value.isFinite,
                value >= 0
            else {
                throw DecodingError.dataCorruptedError(
                    forKey: .minutes,
                    in: container,
                    debugDescription: "not a minute and an amount: \(key): \(value)"
                )
            }
            minutes[minute] = value
        }
        self.minutes = minutes
        let until = try container.decodeIfPresent(Int64.self, forKey: .accountedUntil)
        if let until, until.magnitude >= 1 << 40 {
            throw DecodingError.dataCorruptedError(
                forKey: .accountedUntil,
                in: container,
                debugDescription: "not a time: \(until)"
            )
        }
        self.accountedUntil = until
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(
            Dictionary(uniqueKeysWithValues: self.minutes.map { (String($0.key), $0.value) }),
            forKey: .minutes
        )
        try container.encodeIfPresent(self.accountedUntil, forKey: .accountedUntil)
    }
}

/// The daily budget as one planning pass sees it.
public struct DailySpend: Hashable, Sendable {
    /// Money spent in the last 24 hours.
    public var spent: Double
    /// Money that leaves the 24-hour window within the next hour.
    public var freedNextHour: Double

    public init(spent: Double, freedNextHour: Double) {
        self.spent = spent
        self.freedNextHour = freedNextHour
    }

    public init(_ ledger: SpendLedger, now: Int64) {
        self.init(spent: ledger.spent(at: now), freedNextHour: ledger.freed(at: now, within: 3600))
    }
}
