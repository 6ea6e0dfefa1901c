import DispatchModel
import Foundation
import Testing

/// `Timestamp`'s own RFC 3339 parser and formatter, against Foundation's and by hand.
@Suite("RFC 3339 timestamps")
struct TimestampTests {
    @Test("Formatting agrees with Foundation's ISO 8601 style from 1600 to 2400, and parsing reads it back")
    func agreesWithFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        // 1600-01-01 to 2400-01-01: the Gregorian calendar throughout (Foundation's switches to Julian in 1582).
        let range: ClosedRange<Int64> = -11_676_096_000...13_569_465_600
        let fixed: [Int64] = [0, -1, 86399, 86400, -86400, 951_782_400, 951_868_799, 4_107_542_400, 1_709_164_800]
        for seconds in fixed + (0..<2000).map({ _ in Int64.random(in: range, using: &generator) }) {
            let timestamp = Timestamp(secondsSince1970: seconds)
            let foundation = Date(timeIntervalSince1970: Double(seconds)).formatted(.iso8601)
            #expect(timestamp.rfc3339 == foundation, "\(seconds)")
            #expect(Timestamp(rfc3339: foundation) == timestamp, "\(foundation)")
            let fraction = Int32.random(in: 1...999_999_999, using: &generator)
            let precise = Timestamp(secondsSince1970: seconds, nanoseconds: fraction)
            #expect(Timestamp(rfc3339: precise.rfc3339) == precise, "\(precise.rfc3339)")
        }
    }

    @Test(
        "Valid forms parse to the instant they name",
        arguments: [
            ("2026-11-29T09:39:42Z", Int64(1_795_945_182), Int32(0)),
            ("2026-11-29t09:39:42z", 1_795_945_182, 0),
            ("2026-11-29 09:39:42Z", 1_795_945_182, 0),
            ("2026-11-29T10:39:42+01:00", 1_795_945_182, 0),
            ("2026-11-29T00:09:42-09:30", 1_795_945_182, 0),
            ("2026-11-29T09:39:42.5Z", 1_795_945_182, 500_000_000),
            ("2026-11-29T09:39:42.123456789Z", 1_795_945_182, 123_456_789),
            ("2026-11-29T09:39:42.1234567891234Z", 1_795_945_182, 123_456_789),
            ("2000-02-29T00:00:00Z", 951_782_400, 0),
            ("2024-02-29T23:59:59Z", 1_709_251_199, 0),
            ("1969-12-31T23:59:59Z", -1, 0),
            ("0001-01-01T00:00:00Z", -62_135_596_800, 0),
            ("9999-12-31T23:59:59Z", 253_402_300_799, 0),
        ]
    )
    func parses(text: String, seconds: Int64, nanoseconds: Int32) {
        #expect(Timestamp(rfc3339: text) == Timestamp(secondsSince1970: seconds, nanoseconds: nanoseconds))
    }

    @Test(
        "Anything else is refused",
        arguments: [
            "", "yesterday", "2026-11-29", "2026-11-29T09:39:42", "2026-11-29T09:39Z", "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z", "2026-11-31T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
            "2026-11-29T24:00:00Z", "2026-11-29T09:60:00Z", "2026-11-29T09:39:60Z", "2026-11-29T09:39:42.Z",
            "2026-11-29T09:39:42Zjunk", "2026-11-29T09:39:42+0100", "2026-11-29T09:39:42+24:00",
            "2026-11-29T09:39:42+01:60", "+2026-11-29T09:39:42Z", "2026-1-29T09:39:42Z", "２０２６-11-29T09:39:42Z",
            "2026-11-29T09:39:42.１Z", "2026-11-29X09:39:42Z",
        ]
    )
    func refuses(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test("Any stored value formats without trapping, fractions clamped to nine digits")
    func formatsAnything() {
        #expect(Timestamp(secondsSince1970: 0, nanoseconds: 1).rfc3339 == "1970-01-01T00:00:00.000000001Z")
        #expect(Timestamp(secondsSince1970: -1, nanoseconds: 2_000_000_000).rfc3339 == "1969-12-31T23:59:59.999999999Z")
        #expect(Timestamp(secondsSince1970: 0, nanoseconds: -5).rfc3339 == "1970-01-01T00:00:00Z")
        #expect(Timestamp(secondsSince1970: 253_402_300_800).rfc3339 == "10000-01-01T00:00:00Z")
        // The shared form: any fraction width an Int64 holds, and a fraction out of range, without trapping.
        #expect(Timestamp.rfc3339(secondsSince1970: 0, fraction: 5, digits: 6) == "1970-01-01T00:00:00.000005Z")
        #expect(Timestamp.rfc3339(secondsSince1970: 0, fraction: -5, digits: 3) == "1970-01-01T00:00:00.000Z")
        #expect(
            Timestamp.rfc3339(secondsSince1970: 0, fraction: .max, digits: 40).count == "1970-01-01T00:00:00.Z".count
                + 18
        )
        for seconds in [Int64.max, Int64.min, Int64.max / 2, Int64.min / 2] {
            #expect(Timestamp(secondsSince1970: seconds, nanoseconds: .max).rfc3339.hasSuffix("Z"))
        }
    }
}
