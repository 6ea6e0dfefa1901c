import DispatchModel
import Foundation
import Logging
import ServiceLifecycle

/// What the instances cost, from the dispatcher's own accounting: instance lifetimes × price, per UTC day and
/// instance type, and per container (`dispatch-cloud costs`, the dashboard's spend card).
///
/// Each charge covers the time since the previous one at each instance's hourly price (spot at its current price).
/// An instance running containers charges them equal shares; one running none (booting, idle, shutting down) charges
/// **overhead**: money nobody's container used. A value, so it is tested as one; ``CostRecorder`` keeps it in the
/// data directory.
public struct CostLedger: Codable, Hashable, Sendable {
    /// Money and instance time of one day and type, or one group of a report.
    public struct Totals: Codable, Hashable, Sendable {
        /// Everything charged.
        public var cost = 0.0
        /// The part no container used.
        public var overhead = 0.0
        /// Instance seconds charged.
        public var seconds = 0.0

        public init(cost: Double = 0, overhead: Double = 0, seconds: Double = 0) {
            self.cost = cost
            self.overhead = overhead
            self.seconds = seconds
        }

        mutating func add(_ other: Totals) {
            self.cost += other.cost
            self.overhead += other.overhead
            self.seconds += other.seconds
        }
    }

    /// One container's share of the instances it ran on.
    public struct ContainerCost: Codable, Hashable, Sendable {
        /// The instance type it ran on last.
        public var instanceType: String
        /// Its owner (`owner_uuid`), or empty when unknown.
        public var submitter: String
        public var cost = 0.0
        /// Instance seconds, its share of each.
        public var seconds = 0.0
        /// The first and last charge, Unix seconds.
        public var first: Int64
        public var last: Int64
    }

    /// One instance at a charge.
    public struct Instance: Sendable {
        public var instanceType: String
        public var hourlyPrice: Double
        /// The containers running on it, with their submitters.
        public var containers: [(uuid: String, submitter: String)]

        public init(instanceType: String, hourlyPrice: Double, containers: [(uuid: String, submitter: String)]) {
            self.instanceType = instanceType
            self.hourlyPrice = hourlyPrice
            self.containers = containers
        }
    }

    /// How long records are kept.
    public static let retentionSeconds: Int64 = 400 * 86400

    public var version = 1
    /// The end of the last charge, Unix seconds.
    public var chargedUntil: Int64?
    /// UTC day (`2026-12-03`) → instance type → totals.
    public var days: [String: [String: Totals]] = [:]
    /// Container UUID → its costs.
    public var containers: [String: ContainerCost] = [:]

    public init() {}

    /// Charges `instances` from the last charge until `now` (Unix seconds). A gap longer than `maxGap` (the
    /// dispatcher was down) or a clock stepped back charges nothing; the first call only starts the count.
    public mutating func charge(_ instances: [Instance], until now: Int64, maxGap: Int64) {
        guard let from = self.chargedUntil else {
            self.chargedUntil = now
            return
        }
        guard now > from else { return }
        self.chargedUntil = now
        let seconds = Double(now - from)
        guard now - from <= maxGap else { return }
        let day = Self.day(now)
        var types = self.days[day] ?? [:]
        for instance in instances {
            let price = instance.hourlyPrice
            guard price.isFinite, price >= 0 else { continue }
            let cost = price * seconds / 3600
            var totals = types[instance.instanceType] ?? Totals()
            totals.cost += cost
            totals.seconds += seconds
            if instance.containers.isEmpty {
                totals.overhead += cost
            } else {
                let share = 1 / Double(instance.containers.count)
                for (uuid, submitter) in instance.containers {
                    var record =
                        self.containers[uuid]
                        ?? ContainerCost(
                            instanceType: instance.instanceType,
                            submitter: submitter,
                            first: now,
                            last: now
                        )
                    record.instanceType = instance.instanceType
                    if !submitter.isEmpty { record.submitter = submitter }
                    record.cost += cost * share
                    record.seconds += seconds * share
                    record.last = now
                    self.containers[uuid] = record
                }
            }
            types[instance.instanceType] = totals
        }
        self.days[day] = types
        self.prune(now: now)
    }

    private mutating func prune(now: Int64) {
        let oldest = now - Self.retentionSeconds
        let oldestDay = Self.day(oldest)
        if let first = self.days.keys.min(), first < oldestDay {
            self.days = self.days.filter { $0.key >= oldestDay }
        }
        if self.containers.count > 1000, self.containers.values.contains(where: { $0.last < oldest }) {
            self.containers = self.containers.filter { $0.value.last >= oldest }
        }
    }

    /// The UTC day of a Unix time, `YYYY-MM-DD`.
    public static func day(_ unixSeconds: Int64) -> String {
        let days = unixSeconds >= 0 ? unixSeconds / 86400 : (unixSeconds - 86399) / 86400
        let (year, month, day) = Timestamp.civil(daysSince1970: days)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)-\(two(month))-\(two(day))"
    }

    // MARK: Reports

    /// How ``report(since:by:)`` groups.
    public enum Grouping: String, CaseIterable, Sendable {
        case type, day, container, submitter
    }

    /// A report: one row per group, largest cost first (by day: oldest first), and the totals.
    public struct Report: Codable, Hashable, Sendable {
        public struct Row: Codable, Hashable, Sendable {
            public var key: String
            public var cost: Double
            public var overhead: Double
            public var instanceHours: Double
        }

        public var by: String
        /// The first day counted, when `--since` limits it.
        public var since: String?
        public var rows: [Row]
        public var total: Double
        public var overhead: Double
        /// `overhead / total`, 0 when nothing was spent.
        public var overheadShare: Double
        public var instanceHours: Double
    }

    /// Groups the records from `since` (Unix seconds; whole UTC days for days and types, the last charge for
    /// containers) by `grouping`. By container or submitter, the overhead (which no container used) is a row of its
    /// own, `(overhead)`.
    public func report(since: Int64?, by grouping: Grouping) -> Report {
        let firstDay = since.map(Self.day)
        var total = Totals()
        var byType: [String: Totals] = [:]
        var byDay: [String: Totals] = [:]
        for (day, types) in self.days where firstDay.map({ day >= $0 }) ?? true {
            for (type, totals) in types {
                total.add(totals)
                byType[type, default: Totals()].add(totals)
                byDay[day, default: Totals()].add(totals)
            }
        }
        var rows: [Report.Row] = []
        func row(_ key: String, _ totals: Totals) -> Report.Row {
            Report.Row(key: key, cost: totals.cost, overhead: totals.overhead, instanceHours: totals.seconds / 3600)
        }
        switch grouping {
        case .type:
            rows = byType.map { row($0.key, $0.value) }.sorted { ($0.cost, $1.key) > ($1.cost, $0.key) }
        case .day:
            rows = byDay.map { row($0.key, $0.value) }.sorted { $0.key < $1.key }
        case .container, .submitter:
            var groups: [String: Totals] = [:]
            for (uuid, record) in self.containers where since.map({ record.last >= $0 }) ?? true {
                let key = grouping == .container ? uuid : (record.submitter.isEmpty ? "(unknown)" : record.submitter)
                groups[key, default: Totals()].add(Totals(cost: record.cost, seconds: record.seconds))
            }
            rows = groups.map { row($0.key, $0.value) }.sorted { ($0.cost, $1.key) > ($1.cost, $0.key) }
            if total.overhead > 0 {
                rows.append(
                    Report.Row(key: "(overhead)", cost: total.overhead, overhead: total.overhead, instanceHours: 0)
                )
            }
        }
        return Report(
            by: grouping.rawValue,
            since: firstDay,
            rows: rows,
            total: total.cost,
            overhead: total.overhead,
            overheadShare: total.cost > 0 ? total.overhead / total.cost : 0,
            instanceHours: total.seconds / 3600
        )
    }
}

/// Keeps the ``CostLedger`` in the data directory (`costs.json`), replaced atomically at each charge, so
/// `dispatch-cloud costs` can read it while `serve` runs and after it stopped. It holds no secret.
actor CostRecorder {
    static let fileName = "costs.json"

    let url: URL
    let logger: Logger
    private(set) var ledger = CostLedger()

    init(directory: String, logger: Logger) {
        self.url = URL(fileURLWithPath: directory).appendingPathComponent(Self.fileName)
        self.logger = logger
        do {
            self.ledger = try JSONDecoder().decode(CostLedger.self, from: Data(contentsOf: self.url))
        } catch CocoaError.fileReadNoSuchFile {
            // The first start.
        } catch {
            logger.warning(
                "The cost records could not be read; costs are counted from now",
                metadata: ["file": "\(self.url.path)", "error": "\(FileProblem.text(error))"]
            )
        }
    }

    /// Charges and saves.
    func charge(_ instances: [CostLedger.Instance], at now: Int64) {
        self.ledger.charge(instances, until: now, maxGap: SpendAccountant.maxGap)
        do {
            try JSONEncoder().encode(self.ledger).write(to: self.url, options: .atomic)
        } catch {
            self.logger.warning(
                "The cost records could not be saved",
                metadata: ["file": "\(self.url.path)", "error": "\(FileProblem.text(error))"]
            )
        }
    }
}

/// Charges the pool's instances to the ``CostRecorder`` every few seconds, and once more at shutdown.
struct CostAccounting: Service {
    let recorder: CostRecorder
    let instances: @Sendable () async -> [CostLedger.Instance]
    var interval: Duration = .seconds(10)

    func run() async throws {
        await self.recorder.charge(await self.instances(), at: SpendAccounting.wallSeconds())
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                await self.recorder.charge(await self.instances(), at: SpendAccounting.wallSeconds())
            }
        }
        await self.recorder.charge(await self.instances(), at: SpendAccounting.wallSeconds())
    }
}
