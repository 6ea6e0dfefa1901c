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

    /// Parses an RFC 3339 timestamp (`2026-11-29T09:39:42Z`, with any fraction, `Z` or a numeric offset, `T`, `t`
    /// or a space between date and time); `nil` if `text` is not one. Fraction digits past the ninth are dropped.
    ///
    /// Parsed by hand: Foundation's ISO 8601 style builds its calendar and time-zone caches on first use, about
    /// 0.4 ms of every runner's start, and a few microseconds of every record the API reads or writes.
    public init?(rfc3339 text: String) {
        var text = text
        guard let parsed = text.withUTF8({ Self.parse($0) }) else { return nil }
        self = parsed
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Timestamp? {
        var index = 0
        /// The next `count` bytes as a decimal number, or nil.
        func number(_ count: Int) -> Int64? {
            guard index + count <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[index..<(index + count)] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            index += count
            return value
        }
        /// Whether the next byte is one of `expected` (consumed when it is).
        func take(_ expected: UInt8...) -> Bool {
            guard index < bytes.count, expected.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = number(4), take(UInt8(ascii: "-")), let month = number(2), take(UInt8(ascii: "-")),
            let day = number(2), take(UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")),
            let hour = number(2), take(UInt8(ascii: ":")), let minute = number(2), take(UInt8(ascii: ":")),
            let second = number(2),
            (1...12).contains(month), (1...Self.daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var nanoseconds: Int64 = 0
        if take(UInt8(ascii: ".")) {
            var digits = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                if digits < 9 { nanoseconds = nanoseconds * 10 + Int64(bytes[index] - UInt8(ascii: "0")) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 9) { nanoseconds *= 10 }
        }
        var offset: Int64 = 0
        if !take(UInt8(ascii: "Z"), UInt8(ascii: "z")) {
            let sign: Int64
            if take(UInt8(ascii: "+")) {
                sign = 1
            } else if take(UInt8(ascii: "-")) {
                sign = -1
            } else {
                return nil
            }
            guard let hours = number(2), take(UInt8(ascii: ":")), let minutes = number(2), hours < 24, minutes < 60
            else { return nil }
            offset = sign * (hours * 3600 + minutes * 60)
        }
        guard index == bytes.count else { return nil }
        let days = Self.daysSince1970(year: year, month: month, day: day)
        return Timestamp(
            secondsSince1970: days * 86400 + hour * 3600 + minute * 60 + second - offset,
            nanoseconds: Int32(nanoseconds)
        )
    }

    /// The timestamp in UTC, with nine fraction digits when the fraction is not zero, as Arvados writes it.
    public var rfc3339: String {
        let nanoseconds = min(max(Int64(self.nanoseconds), 0), 999_999_999)
        return Self.rfc3339(
            secondsSince1970: self.secondsSince1970,
            fraction: nanoseconds,
            digits: nanoseconds > 0 ? 9 : 0
        )
    }

    /// `YYYY-MM-DDThh:mm:ss`, then `.` and `fraction` written in `digits` digits (none when `digits` is 0), then `Z`:
    /// the UTC time `secondsSince1970` seconds after 1970 began, any value (a year outside 0–9999 is written as its
    /// number). The API's microsecond form uses it too. `digits` counts from 0 to 18 (an Int64's), and `fraction`
    /// is written as its last `digits` digits, a negative one as 0.
    public static func rfc3339(secondsSince1970 seconds: Int64, fraction: Int64, digits: Int) -> String {
        // Floor division, so instants before 1970 land on the right day.
        let (quotient, remainder) = seconds.quotientAndRemainder(dividingBy: 86400)
        let days = remainder < 0 ? quotient - 1 : quotient
        let secondOfDay = remainder < 0 ? remainder + 86400 : remainder
        let (year, month, day) = Self.civil(daysSince1970: days)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(30)
        func append(_ value: Int64, digits: Int) {
            var divisor: Int64 = 1
            for _ in 1..<digits { divisor *= 10 }
            var value = value
            for _ in 0..<digits {
                bytes.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                value %= divisor
                divisor /= 10
            }
        }
        if (0...9999).contains(year) {
            append(year, digits: 4)
        } else {
            bytes += Array(String(year).utf8)
        }
        bytes.append(UInt8(ascii: "-"))
        append(month, digits: 2)
        bytes.append(UInt8(ascii: "-"))
        append(day, digits: 2)
        bytes.append(UInt8(ascii: "T"))
        append(secondOfDay / 3600, digits: 2)
        bytes.append(UInt8(ascii: ":"))
        append(secondOfDay / 60 % 60, digits: 2)
        bytes.append(UInt8(ascii: ":"))
        append(secondOfDay % 60, digits: 2)
        if digits > 0 {
            bytes.append(UInt8(ascii: "."))
            append(max(fraction, 0), digits: min(digits, 18))
        }
        bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Days in `month` (1–12) of `year` in the proleptic Gregorian calendar.
    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func daysSince1970(year: Int64, month: Int64, day: Int64) -> Int64 {
        let year = month <= 2 ? year - 1 : year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }

    /// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`); `days` is at
    /// most about 1.07e14 in magnitude (a 64-bit count of seconds), far from overflowing.
    public static func civil(daysSince1970 days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719468
        let era = (shifted >= 0 ? shifted : shifted - 146096) / 146097
        let dayOfEra = shifted - era * 146097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
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
