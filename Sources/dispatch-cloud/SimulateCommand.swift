import ArgumentParser
import DispatchConfig
import DispatchSimulation
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `dispatch-cloud simulate`: a workload through the dispatcher's own scheduling over the simulated cloud, on a
/// virtual clock — a day of a cluster in seconds, and what-if by configuration.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Replay a workload through the dispatcher on a simulated cloud, in simulated time.",
        discussion: """
            Runs the real queue, planner, worker pool and worker state machines, configured from --config as \
            `serve` would be, over the simulated cloud (its DriverParameters when Driver is simulated, else its \
            defaults) with the container API in memory, on a virtual clock: simulated days take seconds. Each \
            container runs for the run time and ends with the exit code its workload entry gives. Prints a \
            summary (or --json), writes an HTML report with --report, and runs a second configuration on the \
            same workload and seed with --compare FILE, or the same file with some keys changed with \
            --compare-set KEY=VALUE (--set changes both runs). The same configuration, workload and --seed give \
            the same output, byte for byte. Workload formats and the model's limits: docs/simulation.md.
            """
    )

    @OptionGroup var config: ConfigOptions

    @Option(
        help: ArgumentHelp(
            "Workload: JSON lines, or Arvados container records ({\"items\": [...]}).",
            valueName: "file"
        )
    )
    var workload: String

    @Option(help: "Random seed of the simulated cloud and the dispatcher's jitter.")
    var seed: UInt64 = 1

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp(
            "Override one configuration key, as KEY.PATH=VALUE (repeatable), e.g. Containers.CloudVMs.MaxInstances=128.",
            valueName: "key=value"
        )
    )
    var overrides: [String] = []

    @Option(
        help: ArgumentHelp("A second configuration to run the same workload and seed through.", valueName: "file")
    )
    var compare: String?

    @Option(
        name: .customLong("compare-set"),
        help: ArgumentHelp(
            "Override one key in the second run only (repeatable); without --compare, the second run is --config "
                + "with these keys changed, e.g. --compare-set Containers.CloudVMs.MaxInstances=256.",
            valueName: "key=value"
        )
    )
    var compareOverrides: [String] = []

    @Option(help: ArgumentHelp("Write report.html (and result.json) into this directory.", valueName: "dir"))
    var report: String?

    @Flag(help: "Print the results as JSON instead of the summary.")
    var json = false

    @Flag(help: "No progress on standard error.")
    var quiet = false

    /// A run's name in the summary: its file's name, and the keys `--compare-set` changed in it (last path
    /// component and value), as `simulation.yml [MaxInstances=256]`.
    static func runName(file: String, changes: [ConfigOverride]) -> String {
        let name = URL(fileURLWithPath: file).lastPathComponent
        guard !changes.isEmpty else { return name }
        let keys = changes.map { "\($0.path.last ?? "")=\($0.value)" }
        return "\(name) [\(keys.joined(separator: ", "))]"
    }

    func run() async throws {
        Simulator.reexecWithDeterministicHashing()
        let overrides: [ConfigOverride]
        let compareOverrides: [ConfigOverride]
        do {
            overrides = try self.overrides.map(ConfigOverride.init(parsing:))
            compareOverrides = try self.compareOverrides.map(ConfigOverride.init(parsing:))
        } catch {
            throw usageFailure(error.message)
        }
        guard let source = self.config.source() else {
            throw usageFailure("no configuration file: give --config")
        }
        let primary = try ConfigOptions.load(source, checkingTransportSecurity: false, overrides: overrides).config
        var secondary: ClusterConfig?
        var secondName = ""
        if self.compare != nil || !compareOverrides.isEmpty {
            let secondSource = self.compare.map { ConfigSource(path: $0, origin: .option) } ?? source
            secondary =
                try ConfigOptions.load(
                    secondSource,
                    checkingTransportSecurity: false,
                    overrides: overrides + compareOverrides
                ).config
            secondName = Self.runName(file: secondSource.path, changes: compareOverrides)
        }
        let workload: Workload
        do {
            workload = try Workload.load(contentsOfFile: self.workload)
        } catch {
            throw usageFailure("--workload: \(error.message)")
        }
        if workload.entries.isEmpty { throw usageFailure("--workload: \(self.workload) holds no container") }

        let started = ContinuousClock.now
        let first = try await self.simulate(primary, name: Self.runName(file: source.path, changes: []), workload)
        var second: SimulationResult?
        if let secondary {
            second = try await self.simulate(secondary, name: secondName, workload)
        }
        let took = ContinuousClock.now - started

        if self.json {
            let data: Data
            if let second {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                data = (try? encoder.encode(["a": first, "b": second])) ?? Data()
            } else {
                data = first.json()
            }
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            let workloadName = URL(fileURLWithPath: self.workload).lastPathComponent
            var text = SimulationSummary.text(first, workload: workloadName, skipped: workload.skipped)
            if let second {
                text += "\n" + SimulationSummary.text(second, workload: workloadName, skipped: workload.skipped)
                text += "\n" + SimulationSummary.comparison(first, second)
            }
            print(text, terminator: "")
            printToStandardError("simulated in \(SimulationSummary.wall(took))")
        }
        if let report = self.report {
            do {
                try FileManager.default.createDirectory(atPath: report, withIntermediateDirectories: true)
                let page = SimulationReportPage.html(
                    first,
                    second,
                    workload: URL(fileURLWithPath: self.workload).lastPathComponent
                )
                try Data(page.utf8).write(to: URL(fileURLWithPath: report + "/report.html"))
                try first.json().write(to: URL(fileURLWithPath: report + "/result.json"))
                if let second { try second.json().write(to: URL(fileURLWithPath: report + "/compare.json")) }
            } catch {
                printToStandardError("error: --report \(report): \(error.localizedDescription)")
                throw ExitCode(1)
            }
            if !self.json { printToStandardError("report: \(report)/report.html") }
        }
    }

    private func simulate(_ config: ClusterConfig, name: String, _ workload: Workload) async throws -> SimulationResult
    {
        var simulator = Simulator(config: config, configurationName: name, seed: self.seed)
        if !self.quiet && isatty(STDERR_FILENO) == 1 {
            let meter = ProgressMeter(label: name)
            simulator.progress = { meter.show($0) }
        }
        do {
            let result = try await simulator.run(workload)
            if !self.quiet && isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            return result
        } catch {
            printToStandardError("error: \(error.message)")
            throw ExitCode(2)
        }
    }
}

/// Progress on a terminal: simulated time and containers done, at most five times a second.
final class ProgressMeter: Sendable {
    let label: String
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(label: String) { self.label = label }

    func show(_ progress: Simulator.Progress) {
        let now = ContinuousClock.now
        let due = self.last.withLock { last -> Bool in
            if let previous = last, now - previous < .milliseconds(200) { return false }
            last = now
            return true
        }
        guard due else { return }
        let line =
            "\r\u{1B}[K\(self.label): simulated \(SimulationSummary.duration(progress.simulated)), "
            + "\(progress.finished)/\(progress.total) containers done, \(progress.instances) instances"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
