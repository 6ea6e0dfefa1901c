/// The HTML report of a simulation (`--report DIR`): one self-contained page, plots as inline SVG, no script
/// from anywhere else, no build step.
public enum SimulationReportPage: Sendable {
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"]

    public static func html(_ a: SimulationResult, _ b: SimulationResult?, workload: String) -> String {
        let runs = [a] + (b.map { [$0] } ?? [])
        var body = ""
        body += "<h1>Simulation of \(Self.escape(workload))</h1>\n"
        body +=
            "<p class=\"sub\">DispatchCloud's queue, planner and worker pool over the simulated cloud, in simulated "
        body += "time. Seed \(a.seed).</p>\n"
        body += "<section class=\"cards\">\n"
        for run in runs { body += Self.card(run) }
        body += "</section>\n"
        for run in runs {
            let title = runs.count > 1 ? " — \(Self.escape(run.configuration))" : ""
            body += "<h2>Instances by type\(title)</h2>\n"
            body += Self.chart(
                times: run.series.seconds,
                series: run.series.instancesByType.sorted { $0.key < $1.key }.map {
                    ($0.key, $0.value.map(Double.init))
                },
                unit: "instances",
                id: "types-\(run.configuration)"
            )
            body += "<h2>Instances by state\(title)</h2>\n"
            body += Self.chart(
                times: run.series.seconds,
                series: run.series.instancesByState.sorted { $0.key < $1.key }.map {
                    ($0.key, $0.value.map(Double.init))
                },
                unit: "instances",
                id: "states-\(run.configuration)"
            )
        }
        body += "<h2>Queue depth (queued and locked)</h2>\n"
        body += Self.chart(
            times: Self.longest(runs),
            series: runs.map { ($0.configuration, $0.series.queued.map(Double.init)) },
            unit: "containers",
            id: "queue"
        )
        body += "<h2>Running containers</h2>\n"
        body += Self.chart(
            times: Self.longest(runs),
            series: runs.map { ($0.configuration, $0.series.running.map(Double.init)) },
            unit: "containers",
            id: "running"
        )
        body += "<h2>Spend rate (summed hourly price of live instances)</h2>\n"
        body += Self.chart(
            times: Self.longest(runs),
            series: runs.map { ($0.configuration, $0.series.spendRate) },
            unit: "per hour",
            id: "spend"
        )
        body += "<h2>Wait time from submission to Running</h2>\n"
        body += Self.histogram(runs)
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>Simulation of \(Self.escape(workload))</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
            h1 { margin-bottom: 0.2em; } h2 { font-size: 1.1em; margin-top: 2em; }
            .sub { color: #666; margin-top: 0; }
            .cards { display: flex; gap: 1em; flex-wrap: wrap; }
            .card { border: 1px solid #ddd; border-radius: 8px; padding: 0.8em 1.2em; flex: 1; min-width: 280px; }
            .card h3 { margin: 0 0 0.4em 0; font-size: 1em; }
            .card table { border-collapse: collapse; width: 100%; }
            .card td { padding: 2px 4px; } .card td:last-child { text-align: right; font-variant-numeric: tabular-nums; }
            svg { width: 100%; height: auto; background: #fafafa; border: 1px solid #eee; border-radius: 4px; }
            svg text { font-size: 11px; fill: #555; }
            .legend { display: flex; gap: 1em; flex-wrap: wrap; font-size: 0.85em; margin: 0.3em 0 0 0; }
            .legend span::before { content: ""; display: inline-block; width: 10px; height: 10px; margin-right: 4px;
              background: var(--c); }
            </style>
            </head>
            <body>
            \(body)
            </body>
            </html>

            """
    }

    static func longest(_ runs: [SimulationResult]) -> [Double] {
        runs.map(\.series.seconds).max { $0.count < $1.count } ?? []
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "&": escaped += "&amp;"
            case "\"": escaped += "&quot;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func card(_ run: SimulationResult) -> String {
        let rows: [(String, String)] = [
            ("Containers complete", "\(run.containers.complete)"),
            (
                "Cancelled / refused / unfinished",
                "\(run.containers.cancelled) / \(run.containers.refused) / \(run.containers.unfinished)"
            ),
            (
                "Wait p50 / p90 / p99",
                [run.waitSeconds.p50, run.waitSeconds.p90, run.waitSeconds.p99].map {
                    SimulationSummary.duration(seconds: $0)
                }.joined(separator: " / ")
            ),
            ("Makespan", SimulationSummary.duration(seconds: run.makespanSeconds)),
            ("Peak instances", "\(run.peakInstances)"),
            ("Instance-hours", SimulationSummary.fixed(run.instanceHours)),
            ("Cost", SimulationSummary.money(run.cost)),
            ("Utilisation of paid VCPU-hours", SimulationSummary.fixed(run.utilisation * 100) + "%"),
            (
                "Cloud errors (quota / capacity / rate limit)",
                ["quota", "capacity", "rateLimit"].map {
                    "\(run.cloudErrors[$0] ?? 0)"
                }.joined(separator: " / ")
            ),
        ]
        var html = "<div class=\"card\"><h3>\(Self.escape(run.configuration))</h3><table>\n"
        for (label, value) in rows { html += "<tr><td>\(label)</td><td>\(Self.escape(value))</td></tr>\n" }
        return html + "</table></div>\n"
    }

    /// A line chart of several series over time (hours on the x axis).
    static func chart(times: [Double], series: [(String, [Double])], unit: String, id: String) -> String {
        let width = 960.0
        let height = 260.0
        let left = 50.0
        let bottom = 24.0
        let top = 10.0
        let plotWidth = width - left - 10
        let plotHeight = height - top - bottom
        let maxTime = max(times.last ?? 1, 1)
        let maxValue = max(series.flatMap(\.1).max() ?? 1, 1)
        func x(_ t: Double) -> Double { left + t / maxTime * plotWidth }
        func y(_ v: Double) -> Double { top + plotHeight - v / maxValue * plotHeight }
        var svg =
            "<svg id=\"\(Self.escape(id))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" "
            + "aria-label=\"\(Self.escape(unit)) over time\">\n"
        for step in 0...4 {
            let value = maxValue * Double(step) / 4
            let yy = y(value)
            svg +=
                "<line x1=\"\(left)\" y1=\"\(Self.n(yy))\" x2=\"\(width - 10)\" y2=\"\(Self.n(yy))\" stroke=\"#e5e5e5\"/>"
            svg +=
                "<text x=\"\(left - 6)\" y=\"\(Self.n(yy + 4))\" text-anchor=\"end\">\(SimulationSummary.fixed(value, value < 10 ? 1 : 0))</text>\n"
        }
        for step in 0...6 {
            let t = maxTime * Double(step) / 6
            svg +=
                "<text x=\"\(Self.n(x(t)))\" y=\"\(Int(height) - 6)\" text-anchor=\"middle\">\(SimulationSummary.duration(seconds: t))</text>\n"
        }
        for (index, (_, values)) in series.enumerated() {
            let color = Self.palette[index % Self.palette.count]
            var points: [String] = []
            for (i, value) in values.enumerated() where i < times.count {
                points.append("\(Self.n(x(times[i]))),\(Self.n(y(value)))")
            }
            svg +=
                "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.6\" points=\"\(points.joined(separator: " "))\"/>\n"
        }
        svg += "</svg>\n<div class=\"legend\">"
        for (index, (name, _)) in series.enumerated() {
            svg += "<span style=\"--c: \(Self.palette[index % Self.palette.count])\">\(Self.escape(name))</span>"
        }
        return svg + "</div>\n"
    }

    /// Bars of the wait-time buckets, one bar per run in each bucket.
    static func histogram(_ runs: [SimulationResult]) -> String {
        let buckets = runs.first?.waitHistogram.map(\.label) ?? []
        let width = 960.0
        let height = 240.0
        let maxCount = Double(max(runs.flatMap { $0.waitHistogram.map(\.count) }.max() ?? 1, 1))
        let groupWidth = (width - 60) / Double(max(buckets.count, 1))
        let barWidth = groupWidth * 0.8 / Double(max(runs.count, 1))
        var svg =
            "<svg id=\"waits\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"wait times\">\n"
        for (b, label) in buckets.enumerated() {
            let x0 = 50 + Double(b) * groupWidth + groupWidth * 0.1
            for (r, run) in runs.enumerated() {
                let count = Double(run.waitHistogram[safe: b]?.count ?? 0)
                let h = count / maxCount * (height - 50)
                let color = Self.palette[r % Self.palette.count]
                svg +=
                    "<rect x=\"\(Self.n(x0 + Double(r) * barWidth))\" y=\"\(Self.n(height - 30 - h))\" width=\"\(Self.n(barWidth - 2))\" height=\"\(Self.n(h))\" fill=\"\(color)\"><title>\(Self.escape(run.configuration)): \(Int(count))</title></rect>\n"
            }
            svg +=
                "<text x=\"\(Self.n(x0 + groupWidth * 0.4))\" y=\"\(Int(height) - 10)\" text-anchor=\"middle\">\(Self.escape(label))</text>\n"
        }
        svg += "</svg>\n<div class=\"legend\">"
        for (index, run) in runs.enumerated() {
            svg +=
                "<span style=\"--c: \(Self.palette[index % Self.palette.count])\">\(Self.escape(run.configuration))</span>"
        }
        return svg + "</div>\n"
    }

    static func n(_ value: Double) -> String { SimulationSummary.fixed(value, 1) }
}

extension Array {
    subscript(safe index: Int) -> Element? { self.indices.contains(index) ? self[index] : nil }
}
