/// The terminal summary of a simulation, and of two compared.
public enum SimulationSummary: Sendable {
    /// `2h 05m`, `3m 10s`, `42s`.
    public static func duration(_ duration: Duration) -> String {
        Self.duration(seconds: Double(duration.components.seconds))
    }

    public static func duration(seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let (days, hours, minutes, rest) = (total / 86400, total % 86400 / 3600, total % 3600 / 60, total % 60)
        if days > 0 { return "\(days)d \(Self.two(hours))h \(Self.two(minutes))m" }
        if hours > 0 { return "\(hours)h \(Self.two(minutes))m" }
        if minutes > 0 { return "\(minutes)m \(Self.two(rest))s" }
        return "\(rest)s"
    }

    /// Wall time, to the tenth of a second.
    public static func wall(_ duration: Duration) -> String {
        let tenths = Int((Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18) * 10)
        return "\(tenths / 10).\(tenths % 10) s"
    }

    static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    static func money(_ value: Double) -> String {
        let cents = Int((value * 100).rounded())
        return "$\(cents / 100).\(Self.two(cents % 100))"
    }

    static func fixed(_ value: Double, _ digits: Int = 1) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        // Beyond what an Int holds (or not a number): as Swift prints it, rather than a trap.
        guard (value * scale).isFinite, abs(value * scale) < 1e15 else { return "\(value)" }
        let scaled = Int((value * scale).rounded())
        // The sign apart: between -1 and 0 the whole part is 0, which has none.
        let sign = scaled < 0 ? "-" : ""
        let whole = abs(scaled) / Int(scale)
        let fraction = String(abs(scaled) % Int(scale))
        return sign
            + (digits == 0
                ? "\(whole)" : "\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction)")
    }

    static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    static func leftPadded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    /// The summary of one run.
    public static func text(_ result: SimulationResult, workload: String, skipped: Int = 0) -> String {
        let c = result.containers
        let w = result.waitSeconds
        var lines: [String] = []
        lines.append(
            "\(result.configuration) with \(workload) (seed \(result.seed)): \(c.submitted + c.refused) containers, "
                + "\(Self.duration(seconds: result.simulatedSeconds)) simulated"
                + (result.stoppedUnfinished ? " (stopped at the time limit with work left)" : "")
        )
        lines.append(
            "  containers   \(c.complete) complete (\(c.failed) with exit code ≠ 0), \(c.cancelled) cancelled, "
                + "\(c.refused) refused, \(c.unfinished) unfinished"
                + (skipped > 0 ? "; \(skipped) records that never ran left out" : "")
        )
        lines.append(
            "  wait         p50 \(Self.duration(seconds: w.p50)), p90 \(Self.duration(seconds: w.p90)), "
                + "p99 \(Self.duration(seconds: w.p99)), max \(Self.duration(seconds: w.max))"
        )
        lines.append("  makespan     \(Self.duration(seconds: result.makespanSeconds))")
        lines.append(
            "  instances    peak \(result.peakInstances); \(Self.fixed(result.instanceHours)) instance-hours; "
                + "cost \(Self.money(result.cost))"
        )
        for (name, use) in result.byType.sorted(by: { $0.key < $1.key }) {
            lines.append(
                "    \(Self.padded(name, 16)) \(Self.leftPadded("\(use.instances)", 6)) instances "
                    + "\(Self.leftPadded(Self.fixed(use.hours), 9)) h \(Self.leftPadded(Self.money(use.cost), 11))"
            )
        }
        lines.append("  utilisation  \(Self.fixed(result.utilisation * 100))% of paid VCPU-hours ran containers")
        let errors = ["quota", "capacity", "rateLimit", "other"].map { "\($0) \(result.cloudErrors[$0] ?? 0)" }
        lines.append(
            "  cloud        errors: \(errors.joined(separator: ", ")); runner crashes \(result.runnerCrashes)"
        )
        return lines.joined(separator: "\n") + "\n"
    }

    /// Two runs side by side, with the differences.
    public static func comparison(_ a: SimulationResult, _ b: SimulationResult) -> String {
        // Columns as wide as the runs' names (a `--compare-set` run's name lists the keys it changed).
        let width = max(14, a.configuration.count, b.configuration.count)
        func row(_ label: String, _ left: String, _ right: String, _ change: String) -> String {
            "  \(Self.padded(label, 14)) \(Self.leftPadded(left, width)) \(Self.leftPadded(right, width))  \(change)"
        }
        func percent(_ from: Double, _ to: Double) -> String {
            guard from != 0 else { return to == 0 ? "=" : "new" }
            let change = (to - from) / from * 100
            return (change >= 0 ? "+" : "") + Self.fixed(change) + "%"
        }
        var lines = ["Comparison: \(a.configuration) → \(b.configuration)"]
        lines.append(row("", a.configuration, b.configuration, "change"))
        lines.append(row("cost", Self.money(a.cost), Self.money(b.cost), percent(a.cost, b.cost)))
        lines.append(
            row(
                "instance-hours",
                Self.fixed(a.instanceHours),
                Self.fixed(b.instanceHours),
                percent(a.instanceHours, b.instanceHours)
            )
        )
        for (label, left, right) in [
            ("wait p50", a.waitSeconds.p50, b.waitSeconds.p50), ("wait p90", a.waitSeconds.p90, b.waitSeconds.p90),
            ("wait p99", a.waitSeconds.p99, b.waitSeconds.p99), ("makespan", a.makespanSeconds, b.makespanSeconds),
        ] {
            lines.append(
                row(label, Self.duration(seconds: left), Self.duration(seconds: right), percent(left, right))
            )
        }
        lines.append(
            row(
                "peak instances",
                "\(a.peakInstances)",
                "\(b.peakInstances)",
                percent(Double(a.peakInstances), Double(b.peakInstances))
            )
        )
        lines.append(
            row(
                "utilisation",
                Self.fixed(a.utilisation * 100) + "%",
                Self.fixed(b.utilisation * 100) + "%",
                percent(a.utilisation, b.utilisation)
            )
        )
        lines.append(
            row(
                "complete",
                "\(a.containers.complete)",
                "\(b.containers.complete)",
                percent(Double(a.containers.complete), Double(b.containers.complete))
            )
        )
        return lines.joined(separator: "\n") + "\n"
    }
}
