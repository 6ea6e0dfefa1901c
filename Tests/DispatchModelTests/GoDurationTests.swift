import DispatchModel
import Testing

@Suite("Go-style durations")
struct GoDurationTests {
    @Test(
        "Valid durations parse as Go's time.ParseDuration does",
        arguments: [
            ("10s", Duration.seconds(10)),
            ("1m30s", .seconds(90)),
            ("1h", .seconds(3600)),
            ("300ms", .milliseconds(300)),
            ("1.5h", .seconds(5400)),
            ("-1s", .seconds(-1)),
            ("+2m", .seconds(120)),
            ("0", .zero),
            ("-0", .zero),
            ("0s", .zero),
            ("1h2m3s4ms5us6ns", .nanoseconds(3_723_004_005_006)),
            ("2\u{00B5}s", .microseconds(2)),
            ("2\u{03BC}s", .microseconds(2)),
            ("100ns", .nanoseconds(100)),
            (".5s", .milliseconds(500)),
            ("1.s", .seconds(1)),
            ("1.0000000001s", .nanoseconds(1_000_000_000)),
            ("2562047h47m16.854775807s", .nanoseconds(Int64.max)),
        ]
    )
    func parsesValid(text: String, expected: Duration) throws {
        #expect(try GoDuration.parse(text) == expected)
    }

    @Test(
        "Invalid durations are rejected with the reason",
        arguments: [
            ("", DurationParseError.Reason.invalid),
            ("banana", .invalid),
            ("1 minute", .unknownUnit(" minute")),
            ("10", .missingUnit),
            ("1.5", .missingUnit),
            ("1d", .unknownUnit("d")),
            ("1m30", .missingUnit),
            (".s", .invalid),
            ("-", .invalid),
            ("s", .invalid),
            ("1h-1m", .unknownUnit("h-")),
            ("9999999999999999999h", .invalid),
            ("2562048h", .invalid),
        ]
    )
    func rejectsInvalid(text: String, reason: DurationParseError.Reason) {
        #expect(throws: DurationParseError(text: text, reason: reason)) {
            try GoDuration.parse(text)
        }
    }

    @Test(
        "Durations format the Arvados way",
        arguments: [
            (Duration.seconds(3600), "1h"),
            (.seconds(90), "1m30s"),
            (.seconds(10), "10s"),
            (.seconds(60), "1m"),
            (.seconds(120), "2m"),
            (.seconds(5400), "1h30m"),
            (.seconds(3630), "1h30s"),
            (.seconds(86400), "24h"),
            (.milliseconds(300), "300ms"),
            (.milliseconds(1500), "1.5s"),
            (.nanoseconds(1500), "1.5\u{00B5}s"),
            (.nanoseconds(7), "7ns"),
            (.zero, "0s"),
            (.seconds(-1), "-1s"),
            (.seconds(-3600), "-1h"),
        ]
    )
    func formats(duration: Duration, expected: String) {
        #expect(GoDuration.format(duration) == expected)
    }

    @Test(
        "Formatting then parsing gives the same duration",
        arguments: [
            Duration.seconds(3600), .seconds(90), .milliseconds(300), .nanoseconds(1), .seconds(3630),
            .nanoseconds(3_723_004_005_006), .seconds(-42), .zero, .nanoseconds(Int64.max),
        ]
    )
    func roundTrips(duration: Duration) throws {
        #expect(try GoDuration.parse(GoDuration.format(duration)) == duration)
    }
}
