/// A number of bytes, as Arvados configuration and runtime constraints express them.
///
/// Parsing follows Arvados's `ByteSize`: a bare integer, or an integer followed by an optional space and
/// a decimal (`K`, `M`, `G`, `T`, `P`, `E`) or binary (`Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`) prefix with an
/// optional `B`. `1000000000`, `550MiB`, `4GiB`, `4Gi`, `2 GB` and `0` are all accepted; fractions are not.
/// JSON encodes a size as a plain integer, as Arvados does.
public struct ByteSize: Hashable, Comparable, Sendable, Codable, ExpressibleByIntegerLiteral, AdditiveArithmetic,
    CustomStringConvertible
{
    /// The size in bytes. May be negative when it is the result of a subtraction.
    public var bytes: Int64

    public init(_ bytes: Int64) { self.bytes = bytes }
    public init(integerLiteral value: Int64) { self.bytes = value }

    public static let zero = ByteSize(0)
    public static func kiB(_ n: Int64) -> ByteSize { ByteSize(n << 10) }
    public static func miB(_ n: Int64) -> ByteSize { ByteSize(n << 20) }
    public static func giB(_ n: Int64) -> ByteSize { ByteSize(n << 30) }
    public static func tiB(_ n: Int64) -> ByteSize { ByteSize(n << 40) }

    public static func < (lhs: ByteSize, rhs: ByteSize) -> Bool { lhs.bytes < rhs.bytes }
    public static func + (lhs: ByteSize, rhs: ByteSize) -> ByteSize { ByteSize(lhs.bytes + rhs.bytes) }
    public static func - (lhs: ByteSize, rhs: ByteSize) -> ByteSize { ByteSize(lhs.bytes - rhs.bytes) }

    /// The multiplier of each unit prefix Arvados accepts.
    static let prefixes: [String: Int64] = [
        "": 1,
        "K": 1000, "Ki": 1 << 10,
        "M": 1_000_000, "Mi": 1 << 20,
        "G": 1_000_000_000, "Gi": 1 << 30,
        "T": 1_000_000_000_000, "Ti": 1 << 40,
        "P": 1_000_000_000_000_000, "Pi": 1 << 50,
        "E": 1_000_000_000_000_000_000, "Ei": 1 << 60,
    ]

    /// Parses a size written the way Arvados configuration files write it.
    ///
    /// - Throws: ``ByteSizeParseError`` naming what is wrong with `text`.
    public init(parsing text: String) throws(ByteSizeParseError) {
        let trimmed = text.trimmingSpaces
        guard let lastDigit = trimmed.lastIndex(where: { $0.isASCII && $0.isNumber }) else {
            throw ByteSizeParseError(text: text, reason: "is not a byte size")
        }
        let numberEnd = trimmed.index(after: lastDigit)
        guard let value = Int64(trimmed[..<numberEnd]) else {
            throw ByteSizeParseError(text: text, reason: "is not a byte size")
        }
        var unit = Substring(trimmed[numberEnd...]).trimmingSpaces
        if unit.hasSuffix("B") { unit.removeLast() }
        guard let multiplier = Self.prefixes[String(unit)] else {
            throw ByteSizeParseError(text: text, reason: "has an unknown unit (use B, K, Ki, M, Mi, G, Gi, T, Ti, …)")
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw ByteSizeParseError(text: text, reason: "overflows a 64-bit byte count") }
        self.bytes = product
    }

    /// The size in the largest binary unit that divides it exactly: `4GiB`, `550MiB`, `1000000000`.
    public var description: String {
        guard self.bytes != 0 else { return "0" }
        for (suffix, shift) in [("EiB", 60), ("PiB", 50), ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
            let unit = Int64(1) << shift
            if self.bytes % unit == 0 { return "\(self.bytes / unit)\(suffix)" }
        }
        return "\(self.bytes)"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            self.init(number)
        } else {
            let text = try container.decode(String.self)
            do {
                try self.init(parsing: text)
            } catch {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.bytes)
    }
}

/// A byte size that could not be parsed.
public struct ByteSizeParseError: Error, Sendable, CustomStringConvertible {
    /// The text as given.
    public var text: String
    /// Why it was rejected, as a predicate: "is not a byte size".
    public var reason: String

    public var description: String { "\"\(self.text)\" \(self.reason)" }
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        var slice = Substring(self)
        while slice.first?.isWhitespace == true { slice.removeFirst() }
        while slice.last?.isWhitespace == true { slice.removeLast() }
        return slice
    }
}
