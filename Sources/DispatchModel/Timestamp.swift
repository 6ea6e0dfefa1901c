public import Foundation

/// An instant as the Arvados API writes it: RFC 3339 in UTC with fractional seconds,
/// `2026-11-29T09:39:42.123456789Z`.
///
/// Decoding accepts any RFC 3339 form (with or without fractional seconds, `Z` or a numeric offset), so
/// timestamps from a real Arvados controller and from this project's API both read back.
public struct Timestamp: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var date: Date

    public init(_ date: Date) { self.date = date }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.date < rhs.date }

    /// Parses an RFC 3339 timestamp; `nil` if `text` is not one.
    public init?(rfc3339 text: String) {
        // Split off the fraction, which the format style would otherwise limit to milliseconds.
        var base = text
        var fraction = 0.0
        if let dot = text.firstIndex(of: ".") {
            let digitsEnd = text[dot...].dropFirst().firstIndex(where: { !$0.isNumber }) ?? text.endIndex
            guard let value = Double("0" + text[dot..<digitsEnd]) else { return nil }
            fraction = value
            base = String(text[..<dot] + text[digitsEnd...])
        }
        guard let date = try? Date(base, strategy: .iso8601) else { return nil }
        self.date = date.addingTimeInterval(fraction)
    }

    /// The timestamp in UTC with nanosecond precision, as Arvados writes it.
    public var rfc3339: String {
        let seconds = self.date.timeIntervalSince1970.rounded(.down)
        let whole = Date(timeIntervalSince1970: seconds).formatted(.iso8601)
        let nanos = Int(((self.date.timeIntervalSince1970 - seconds) * 1e9).rounded())
        guard nanos > 0, nanos < 1_000_000_000 else { return whole }
        var digits = String(nanos)
        digits = String(repeating: "0", count: 9 - digits.count) + digits
        return "\(whole.dropLast()).\(digits)Z"
    }

    public var description: String { self.rfc3339 }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\"\(text)\" is not an RFC 3339 time")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rfc3339)
    }
}
