import DispatchConfig
import DispatchSimulation
import Foundation
import Testing

@Suite("Simulator")
struct SimulatorTests {
    static var examples: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples").path
    }

    static func config(_ overrides: [String] = []) throws -> ClusterConfig {
        let yaml = try String(contentsOfFile: Self.examples + "/simulation.yml", encoding: .utf8)
        return try ClusterConfig.load(
            yaml: yaml,
            sourceName: "simulation.yml",
            overrides: try overrides.map(ConfigOverride.init(parsing:))
        ).config
    }

    /// 16 containers over 24 minutes: small ones, some large, one on a GPU.
    static func workload() -> Workload {
        var entries: [Workload.Entry] = []
        for i in 0..<16 {
            entries.append(
                Workload.Entry(
                    submit: .seconds(i * 90),
                    vcpus: [1, 2, 4, 8, 16][i % 5],
                    ram: Int64([2, 4, 8, 16, 48][i % 5]) << 30,
                    gpus: i % 16 == 0 ? 1 : 0,
                    priority: i % 10 + 1,
                    runTime: .seconds(300 + (i * 97) % 3000),
                    exitCode: i % 13 == 0 ? 1 : 0
                )
            )
        }
        return Workload(entries: entries)
    }

    @Test("A simulated run completes every container of its workload with its exit code, and stops when all is done")
    func completes() async throws {
        let simulator = Simulator(
            config: try Self.config(["Containers.CloudVMs.DriverParameters.RunnerCrashRate=0"]),
            configurationName: "simulation.yml",
            seed: 7
        )
        let first = try await simulator.run(Self.workload())
        #expect(first.containers.submitted == 16)
        #expect(first.containers.complete == 16 - first.containers.cancelled)
        #expect(first.containers.unfinished == 0)
        #expect(first.containers.failed == 2, "exit code 1 for every 13th container")
        #expect(first.cost > 0)
        #expect(first.peakInstances > 0 && first.peakInstances <= 64)
        #expect(first.byType["g5.2xlarge"] != nil, "the GPU containers ran on the GPU type: \(first.byType.keys)")
        #expect(!first.stoppedUnfinished)
        #expect(first.waitSeconds.p50 >= 60, "every container waits for a boot of 1–3 minutes")
        #expect(first.utilisation > 0 && first.utilisation <= 1)
        #expect(first.series.seconds.count > 10)
    }

    @Test("--set changes the run: fewer instances allowed, longer waits")
    func overrides() async throws {
        let wide = try await Simulator(config: try Self.config(), configurationName: "a", seed: 3).run(Self.workload())
        let narrow = try await Simulator(
            config: try Self.config(["Containers.CloudVMs.MaxInstances=4"]),
            configurationName: "b",
            seed: 3
        ).run(Self.workload())
        #expect(narrow.peakInstances <= 4)
        #expect(narrow.waitSeconds.p90 > wide.waitSeconds.p90)
    }

    @Test("The comparison signs every change, small decreases too")
    func comparisonSigns() {
        var a = SimulationResult(configuration: "a.yml", seed: 1)
        var b = SimulationResult(configuration: "b.yml", seed: 1)
        a.containers.complete = 1752
        b.containers.complete = 1751  // -0.06%: printed -0.1%, not 0.1%
        a.cost = 200
        b.cost = 199  // -0.5%
        a.peakInstances = 64
        b.peakInstances = 226
        let text = SimulationSummary.comparison(a, b)
        let rows = Dictionary(
            text.split(separator: "\n").compactMap { line -> (String, String)? in
                let fields = line.split(separator: " ")
                guard let first = fields.first, let last = fields.last else { return nil }
                return (String(first), String(last))
            },
            uniquingKeysWith: { first, _ in first }
        )
        #expect(rows["complete"] == "-0.1%", "\(text)")
        #expect(rows["cost"] == "-0.5%", "\(text)")
        #expect(rows["peak"] == "+253.1%", "\(text)")
    }
}
