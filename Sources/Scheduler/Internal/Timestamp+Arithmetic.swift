import DispatchModel

extension Timestamp {
    /// The time from `earlier` to this timestamp (negative if `earlier` is later).
    func duration(since earlier: Timestamp) -> Duration {
        .seconds(self.secondsSince1970 - earlier.secondsSince1970)
            + .nanoseconds(Int64(self.nanoseconds) - Int64(earlier.nanoseconds))
    }

    /// Seconds since 1970 as a floating-point number, for gauges.
    var unixSeconds: Double {
        Double(self.secondsSince1970) + Double(self.nanoseconds) / 1e9
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    var inSeconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
