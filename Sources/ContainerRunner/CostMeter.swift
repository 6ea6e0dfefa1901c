public import DispatchModel

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One point of an instance's price history, as the dispatcher sends it with `--list --stdin-prices` and
/// `crunch-run` keeps it in `crunch-run-prices.json`: the hourly price from `StartTime` on.
public struct PricePoint: Hashable, Sendable, Codable {
    public var startTime: Timestamp
    public var price: Double

    public init(startTime: Timestamp, price: Double) {
        self.startTime = startTime
        self.price = price
    }

    enum CodingKeys: String, CodingKey {
        case startTime = "StartTime"
        case price = "Price"
    }
}

/// A container's cost as `crunch-run` computes it (`calculateCost`, Arvados #19320, #19967): the instance's
/// hourly price integrated over the time since the container started. With no price history, the instance
/// type's `Price` holds throughout; with one, each price holds from its `StartTime` to the next, and the
/// earliest known price is assumed for the time before it.
public struct CostMeter: Sendable {
    /// The file, in the lock directory, where `--list --stdin-prices` keeps the latest history.
    public static let pricesFileName = "crunch-run-prices.json"
    /// The largest prices file read.
    static let maximumPricesBytes = 1 << 20

    /// When the container started (the cost counts from here).
    public var start: Timestamp
    /// The instance type's hourly `Price`, used when there is no history.
    public var instancePrice: Double
    /// The history, newest first, without duplicates.
    public private(set) var prices: [PricePoint] = []

    public init(start: Timestamp, instancePrice: Double) {
        self.start = start
        self.instancePrice = instancePrice.isFinite && instancePrice > 0 ? instancePrice : 0
    }

    /// Adds `points` to the history; returns the points newer than anything known before (oldest first), for
    /// the log.
    @discardableResult
    public mutating func merge(_ points: [PricePoint]) -> [PricePoint] {
        let lastKnown = self.prices.first?.startTime
        let usable = points.filter { $0.price.isFinite && $0.price >= 0 }
        self.prices = Self.normalize(usable + self.prices)
        return self.prices.reversed().filter { point in lastKnown.map { point.startTime > $0 } ?? true }
    }

    /// Sorted newest first; of points at the same time or with the same price as the next older one, the
    /// older is kept (Arvados's `NormalizePriceHistory`).
    public static func normalize(_ points: [PricePoint]) -> [PricePoint] {
        var sorted = points.sorted { $0.startTime > $1.startTime }
        var index = 0
        while index < sorted.count - 1 {
            if sorted[index].startTime == sorted[index + 1].startTime || sorted[index].price == sorted[index + 1].price
            {
                sorted.remove(at: index)
            } else {
                index += 1
            }
        }
        return sorted
    }

    /// The cost from ``start`` to `now`, in the price's currency.
    public func cost(at now: Timestamp) -> Double {
        var prices = self.prices
        if prices.isEmpty {
            prices = [PricePoint(startTime: Timestamp(secondsSince1970: 0), price: self.instancePrice)]
        } else if let earliest = prices.last, earliest.startTime > self.start {
            prices.append(PricePoint(startTime: Timestamp(secondsSince1970: 0), price: earliest.price))
        }
        var cost = 0.0
        var spanEnd = now
        for point in prices {
            var spanStart = point.startTime
            if spanStart > now { continue }
            let last = spanStart < self.start
            if last { spanStart = self.start }
            cost += point.price * Self.seconds(from: spanStart, to: spanEnd) / 3600
            if last { break }
            spanEnd = spanStart
        }
        return cost
    }

    static func seconds(from start: Timestamp, to end: Timestamp) -> Double {
        (Double(end.secondsSince1970) - Double(start.secondsSince1970))
            + (Double(end.nanoseconds) - Double(start.nanoseconds)) / 1e9
    }

    /// Reads a prices file; `nil` when it is missing, too large or not a price history.
    public static func readPrices(atPath path: String) -> [PricePoint]? {
        guard let data = FileManager.default.contents(atPath: path), data.count <= Self.maximumPricesBytes else {
            return nil
        }
        return try? JSONDecoder().decode([PricePoint].self, from: data)
    }

    /// Keeps the history the dispatcher sent with `--list --stdin-prices` in `directory`, atomically; `false`
    /// when `stdin` is not a price history (nothing is written).
    public static func storePrices(_ stdin: [UInt8], inDirectory directory: String) -> Bool {
        guard stdin.count <= Self.maximumPricesBytes,
            (try? JSONDecoder().decode([PricePoint].self, from: Data(stdin))) != nil
        else { return false }
        let url = URL(fileURLWithPath: directory + "/" + Self.pricesFileName)
        return (try? Data(stdin).write(to: url, options: .atomic)) != nil
    }

    /// The `Price` of the `InstanceType` the dispatcher sent (Arvados's JSON), or 0.
    public static func instancePrice(instanceTypeJSON: String?) -> Double {
        struct TypePrice: Decodable {
            var price: Double?
            enum CodingKeys: String, CodingKey { case price = "Price" }
        }
        guard let text = instanceTypeJSON,
            let decoded = try? JSONDecoder().decode(TypePrice.self, from: Data(text.utf8))
        else { return 0 }
        return decoded.price ?? 0
    }
}
