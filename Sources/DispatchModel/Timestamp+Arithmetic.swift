extension Timestamp {
    /// The time from `earlier` to this timestamp (negative if `earlier` is later).
    public func duration(since earlier: Timestamp) -> Duration {
        .seconds(self.secondsSince1970 - earlier.secondsSince1970)
            + .nanoseconds(Int64(self.nanoseconds) - Int64(earlier.nanoseconds))
    }

    /// This timestamp moved by `duration` (back for a negative one), saturating at the ends of the range.
    public func advanced(by duration: Duration) -> Timestamp {
        let (seconds, attoseconds) = duration.components
        // `attoseconds` has the sign of the duration and is less than a second in magnitude.
        var nanoseconds = Int64(self.nanoseconds) + attoseconds / 1_000_000_000
        var carry: Int64 = 0
        if nanoseconds < 0 {
            nanoseconds += 1_000_000_000
            carry = -1
        } else if nanoseconds >= 1_000_000_000 {
            nanoseconds -= 1_000_000_000
            carry = 1
        }
        let (moved, overflow) = self.secondsSince1970.addingReportingOverflow(seconds)
        let (total, overflow2) = moved.addingReportingOverflow(carry)
        if overflow || overflow2 {
            return seconds < 0
                ? Timestamp(secondsSince1970: .min) : Timestamp(secondsSince1970: .max, nanoseconds: 999_999_999)
        }
        return Timestamp(secondsSince1970: total, nanoseconds: Int32(nanoseconds))
    }

    /// Seconds since 1970 as a floating-point number, for gauges.
    public var unixSeconds: Double {
        Double(self.secondsSince1970) + Double(self.nanoseconds) / 1e9
    }
}
