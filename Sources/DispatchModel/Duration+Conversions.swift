extension Duration {
    /// The duration in whole nanoseconds, saturating at `Int64.min` / `Int64.max` (about ±292 years).
    public var nanoseconds: Int64 {
        // Taking a duration apart divides 128 bits; the zero durations of in-process work are common.
        if self == .zero { return 0 }
        let (seconds, attoseconds) = self.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return total
    }

    /// The duration in seconds as a floating-point number, for gauges, logs and figures.
    public var inSeconds: Double {
        if self == .zero { return 0 }
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
