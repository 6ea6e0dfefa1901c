#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// An instant as the Arvados API writes it: RFC 3339 in UTC with nanoseconds,
/// `2026-11-29T09:39:42.123456789Z`.
///
/// The value keeps whole seconds and nanoseconds separately, so a timestamp read from the API is written
/// back identically (a `Date` would lose the last digits). Decoding accepts any RFC 3339 form (with or without
/// a fraction, `Z` or a numeric offset).
public struct Timestamp: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    public var secondsSince1970: Int64
    /// Nanoseconds past ``secondsSince1970``, in `0..<1_000_000_000`.
    public var nanoseconds: Int32

    public init(secondsSince1970: Int64, nanoseconds: Int32 = 0) {
        self.secondsSince1970 = secondsSince1970
        self.nanoseconds = nanoseconds
    }

    public init(_ date: Date) {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        self.init(
            secondsSince1970: Int64(seconds),
            nanoseconds: Int32(min(999_999_999, ((date.timeIntervalSince1970 - seconds) * 1e9).rounded()))
        )
    }

    /// The current wall-clock time.
    public static func now() -> Timestamp { Timestamp(Date()) }

    /// The instant as a `Date` (to about a microsecond).
    public var date: Date {
        Date(timeIntervalSince1970: Double(self.secondsSince1970) + Double(self.nanoseconds) / 1e9)
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        (lhs.secondsSince1970, lhs.nanoseconds) < (rhs.secondsSince1970, rhs.nanoseconds)
    }

    /// Parses an RFC 3339 timestamp; `nil` if `text` is not one.
    public init?(rfc3339 text: String) {
        // Split off the fraction, which the format style would otherwise limit to milliseconds.
        var base = text
        var nanoseconds: Int32 = 0
        if let dot = text.firstIndex(of: ".") {
            let digits = text[text.index(after: dot)...].prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty else { return nil }
            let padded = (digits.prefix(9) + String(repeating: "0", count: max(0, 9 - digits.count)))
            guard let value = Int32(padded) else { return nil }
            nanoseconds = value
            base = String(text[..<dot] + text[digits.endIndex...])
        }
        guard let date = try? Date(base, strategy: .iso8601) else { return nil }
        self.init(secondsSince1970: Int64(date.timeIntervalSince1970.rounded()), nanoseconds: nanoseconds)
    }

    /// The timestamp in UTC, with nine fraction digits when the fraction is not zero, as Arvados writes it.
    public var rfc3339: String {
        let whole = Date(timeIntervalSince1970: Double(self.secondsSince1970)).formatted(.iso8601)
        guard self.nanoseconds > 0 else { return whole }
        let digits = String(self.nanoseconds)
        return "\(whole.dropLast()).\(String(repeating: "0", count: 9 - digits.count))\(digits)Z"
    }

    public var description: String { self.rfc3339 }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "\"\(text)\" is not an RFC 3339 time"
            )
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rfc3339)
    }
}
