/// Durations written the way Arvados configuration files write them: Go's `time.ParseDuration` syntax.
///
/// Parsing accepts exactly what Go accepts (`10s`, `1m30s`, `1h`, `300ms`, `1.5h`, `-1s`, `+2m`, units `ns`,
/// `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), plus Arvados's rule that a unitless `0` means zero. Any other
/// bare number is an error ("missing unit"). Formatting is Arvados's: Go's form with the redundant zero
/// minutes and seconds removed (`1h`, not `1h0m0s`; `1m30s`; `10s`; `300ms`).
public enum GoDuration: Sendable {
    /// Nanoseconds per unit, by unit name.
    static let units: [String: UInt64] = [
        "ns": 1,
        "us": 1_000,
        "\u{00B5}s": 1_000,  // micro sign
        "\u{03BC}s": 1_000,  // Greek letter mu
        "ms": 1_000_000,
        "s": 1_000_000_000,
        "m": 60_000_000_000,
        "h": 3_600_000_000_000,
    ]

    /// Parses a Go duration string.
    ///
    /// - Throws: ``DurationParseError`` naming what is wrong with `text`.
    public static func parse(_ text: String) throws(DurationParseError) -> Duration {
        let nanoseconds = try Self.parseNanoseconds(text)
        return .nanoseconds(nanoseconds)
    }

    /// Formats a duration the Arvados way: `1h`, `1m30s`, `10s`, `300ms`, `1.5µs`, `0s`.
    public static func format(_ duration: Duration) -> String {
        let text = Self.goString(nanoseconds: duration.nanoseconds)
        return Self.replacingFirst("h0m", with: "h", in: Self.replacingFirst("m0s", with: "m", in: text))
    }

    /// `text` with the first occurrence of `target` replaced.
    private static func replacingFirst(_ target: String, with replacement: String, in text: String) -> String {
        let characters = Array(text)
        let pattern = Array(target)
        guard characters.count >= pattern.count else { return text }
        for start in 0...(characters.count - pattern.count)
        where characters[start..<(start + pattern.count)].elementsEqual(pattern) {
            return String(characters[..<start]) + replacement + String(characters[(start + pattern.count)...])
        }
        return text
    }

    /// The duration in whole nanoseconds, saturating at the bounds of `Int64`.

    static func parseNanoseconds(_ text: String) throws(DurationParseError) -> Int64 {
        var scalars = Substring(text).unicodeScalars[...]
        var negative = false
        if let sign = scalars.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            scalars.removeFirst()
        }
        if String(scalars) == "0" { return 0 }
        guard !scalars.isEmpty else { throw DurationParseError(text: text, reason: .invalid) }

        let limit = UInt64(1) << 63
        var total: UInt64 = 0
        while !scalars.isEmpty {
            guard let first = scalars.first, first == "." || first.isASCIIDigit else {
                throw DurationParseError(text: text, reason: .invalid)
            }
            // The integer part.
            var value: UInt64 = 0
            let integerDigits = scalars.prefix(while: { $0.isASCIIDigit })
            for digit in integerDigits {
                let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit.value - 48))
                guard !overflow1, !overflow2, sum <= limit else {
                    throw DurationParseError(text: text, reason: .invalid)
                }
                value = sum
            }
            scalars.removeFirst(integerDigits.count)
            // The fraction, of which only the digits that fit are significant.
            var fraction: UInt64 = 0
            var scale = 1.0
            var fractionDigitCount = 0
            if scalars.first == "." {
                scalars.removeFirst()
                let fractionDigits = scalars.prefix(while: { $0.isASCIIDigit })
                for digit in fractionDigits where fraction < UInt64.max / 100 {
                    fraction = fraction * 10 + UInt64(digit.value - 48)
                    scale *= 10
                }
                fractionDigitCount = fractionDigits.count
                scalars.removeFirst(fractionDigits.count)
            }
            guard !integerDigits.isEmpty || fractionDigitCount > 0 else {
                throw DurationParseError(text: text, reason: .invalid)
            }
            // The unit.
            let unitScalars = scalars.prefix(while: { $0 != "." && !$0.isASCIIDigit })
            scalars.removeFirst(unitScalars.count)
            guard !unitScalars.isEmpty else { throw DurationParseError(text: text, reason: .missingUnit) }
            let unitName = String(String.UnicodeScalarView(unitScalars))
            guard let unit = Self.units[unitName] else {
                throw DurationParseError(text: text, reason: .unknownUnit(unitName))
            }
            guard value <= limit / unit else { throw DurationParseError(text: text, reason: .invalid) }
            value *= unit
            if fraction > 0 {
                value += UInt64(Double(fraction) * (Double(unit) / scale))
                guard value <= limit else { throw DurationParseError(text: text, reason: .invalid) }
            }
            total += value
            guard total <= limit else { throw DurationParseError(text: text, reason: .invalid) }
        }
        if negative { return total == limit ? .min : -Int64(total) }
        guard total < limit else { throw DurationParseError(text: text, reason: .invalid) }
        return Int64(total)
    }

    /// Go's `time.Duration.String()`: `1h0m0s`, `1m30s`, `1.5s`, `300ms`, `1.5µs`, `10ns`, `0s`.
    static func goString(nanoseconds: Int64) -> String {
        guard nanoseconds != 0 else { return "0s" }
        let sign = nanoseconds < 0 ? "-" : ""
        var magnitude = nanoseconds.magnitude
        if magnitude < 1_000_000_000 {
            if magnitude < 1_000 { return "\(sign)\(magnitude)ns" }
            if magnitude < 1_000_000 { return sign + Self.decimal(magnitude, fractionDigits: 3) + "\u{00B5}s" }
            return sign + Self.decimal(magnitude, fractionDigits: 6) + "ms"
        }
        let secondsFraction = Self.fractionSuffix(magnitude % 1_000_000_000, digits: 9)
        magnitude /= 1_000_000_000
        var text = "\(magnitude % 60)\(secondsFraction)s"
        magnitude /= 60
        if magnitude > 0 {
            text = "\(magnitude % 60)m" + text
            magnitude /= 60
            if magnitude > 0 { text = "\(magnitude)h" + text }
        }
        return sign + text
    }

    /// `value / 10^fractionDigits` written with its fractional digits, trailing zeros dropped.
    private static func decimal(_ value: UInt64, fractionDigits: Int) -> String {
        var divisor: UInt64 = 1
        for _ in 0..<fractionDigits { divisor *= 10 }
        return "\(value / divisor)" + Self.fractionSuffix(value % divisor, digits: fractionDigits)
    }

    /// `.5` for a remainder of 500 over 3 digits; empty for a zero remainder.
    private static func fractionSuffix(_ remainder: UInt64, digits: Int) -> String {
        guard remainder > 0 else { return "" }
        var text = String(remainder)
        text = String(repeating: "0", count: digits - text.count) + text
        while text.last == "0" { text.removeLast() }
        return "." + text
    }
}

/// A duration that could not be parsed.
public struct DurationParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why a duration was rejected.
    public enum Reason: Hashable, Sendable {
        /// Not a Go duration at all, or out of range.
        case invalid
        /// A number without a unit, other than `0`.
        case missingUnit
        /// A unit Go does not know.
        case unknownUnit(String)
    }

    /// The text as given.
    public var text: String
    /// Why it was rejected.
    public var reason: Reason

    public init(text: String, reason: Reason) {
        self.text = text
        self.reason = reason
    }

    public var description: String {
        switch self.reason {
        case .invalid: "\"\(self.text)\" is not a duration"
        case .missingUnit: "\"\(self.text)\" is not a duration (missing unit; write for example 10s, 1m or 1h)"
        case .unknownUnit(let unit):
            "\"\(self.text)\" is not a duration (unknown unit \"\(unit)\"; use ns, us, ms, s, m or h)"
        }
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
