/// What the instances cost per UTC day, with the overhead (time instances ran no container), for the dashboard's
/// spend card (`GET /arvados/v1/dispatch/costs`, this implementation's addition).
public struct CostSummary: Hashable, Sendable, Codable {
    /// One UTC day.
    public struct Day: Hashable, Sendable, Codable {
        /// `2026-12-03`.
        public var day: String
        public var cost: Double
        public var overhead: Double

        public init(day: String, cost: Double, overhead: Double) {
            self.day = day
            self.cost = cost
            self.overhead = overhead
        }
    }

    /// The days counted, oldest first.
    public var days: [Day]
    public var total: Double
    public var overhead: Double
    /// `overhead / total`; 0 when nothing was spent.
    public var overheadShare: Double

    public init(days: [Day], total: Double, overhead: Double, overheadShare: Double) {
        self.days = days
        self.total = total
        self.overhead = overhead
        self.overheadShare = overheadShare
    }

    enum CodingKeys: String, CodingKey {
        case days, total, overhead
        case overheadShare = "overhead_share"
    }
}
