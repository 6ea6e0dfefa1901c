import ArgumentParser
import DispatchCloud
import DispatchConfig
import DispatchModel
import Foundation

/// `dispatch-cloud costs`: what the instances cost, from the dispatcher's own accounting in the data directory.
struct CostsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "costs",
        abstract: "Report what the instances cost, by instance type, day, container or submitter.",
        discussion: """
            Reads <DataDirectory>/costs.json, which `serve` keeps (every 10 seconds: each instance's lifetime × its \
            hourly price, spot at its current price) and which stays after it stops; reading it while `serve` runs \
            is safe (the file is replaced atomically). Time an instance ran no container (booting, idle, shutting \
            down) is reported as overhead. Days are UTC days.
            """
    )

    @OptionGroup var configOptions: ConfigOptions

    @Option(
        name: .customLong("data-directory"),
        help: ArgumentHelp(
            "Read this data directory instead of the configured DispatchCloud.DataDirectory.",
            valueName: "dir"
        )
    )
    var dataDirectory: String?

    @Option(
        name: .customLong("since"),
        help: ArgumentHelp(
            "Count from this UTC day (2026-12-01), time (2026-12-01T12:00:00Z), or this long ago (72h).",
            discussion: "Days and types count whole UTC days; containers count those charged since then.",
            valueName: "T"
        )
    )
    var since: String?

    @Option(name: .customLong("by"), help: ArgumentHelp("Group by type, day, container or submitter.", valueName: "g"))
    var by = "type"

    @Flag(name: .customLong("json"), help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        guard let grouping = CostLedger.Grouping(rawValue: self.by) else {
            throw usageFailure("--by: expected type, day, container or submitter, got \"\(self.by)\"")
        }
        var since: Int64?
        if let text = self.since {
            guard let parsed = Self.parseSince(text, now: Date()) else {
                throw usageFailure(
                    "--since: expected a day (2026-12-01), a time (2026-12-01T12:00:00Z) or a duration (72h), "
                        + "got \"\(text)\""
                )
            }
            since = parsed
        }
        let directory = try self.dataDirectory ?? self.configOptions.load().config.dispatchCloud.dataDirectory
        let path = directory + "/costs.json"
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch CocoaError.fileReadNoSuchFile {
            throw runtimeFailure(
                "no cost records in \(path): `dispatch-cloud serve` writes them while it runs "
                    + "(pass --data-directory or --config to read another)"
            )
        } catch {
            throw runtimeFailure("cannot read \(path): \(error.localizedDescription)")
        }
        let ledger: CostLedger
        do {
            ledger = try JSONDecoder().decode(CostLedger.self, from: data)
        } catch {
            throw runtimeFailure("\(path) is not a cost record file: \(error.localizedDescription)")
        }
        let report = ledger.report(since: since, by: grouping)
        if self.json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(Self.table(report, grouping: grouping, path: path))
        }
    }

    /// A Unix time from `--since`: a UTC day, an RFC 3339 time, or a Go duration before `now`.
    static func parseSince(_ text: String, now: Date) -> Int64? {
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        if text.count == 10, let date = day.date(from: text) { return Int64(date.timeIntervalSince1970) }
        if let date = ISO8601DateFormatter().date(from: text) { return Int64(date.timeIntervalSince1970) }
        if let duration = try? GoDuration.parse(text), duration >= .zero {
            return Int64(now.timeIntervalSince1970) - duration.components.seconds
        }
        return nil
    }

    static func money(_ amount: Double) -> String { "$" + String(format: "%.4f", amount) }

    static func table(_ report: CostLedger.Report, grouping: CostLedger.Grouping, path: String) -> String {
        let heading = ["type": "TYPE", "day": "DAY", "container": "CONTAINER", "submitter": "SUBMITTER"][
            grouping.rawValue
        ]!
        var lines = [[heading, "COST", "OVERHEAD", "INSTANCE-HOURS"]]
        for row in report.rows {
            lines.append([
                row.key, Self.money(row.cost), Self.money(row.overhead), String(format: "%.2f", row.instanceHours),
            ])
        }
        lines.append([
            "TOTAL", Self.money(report.total), Self.money(report.overhead),
            String(format: "%.2f", report.instanceHours),
        ])
        let widths = (0..<4).map { column in lines.map { $0[column].count }.max() ?? 0 }
        var text = "Costs by \(grouping.rawValue)" + (report.since.map { " since \($0)" } ?? "") + " (\(path))\n"
        for line in lines {
            text +=
                zip(line, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        text += "Overhead (instances running no container): \(String(format: "%.1f", report.overheadShare * 100))%"
        return text
    }
}
