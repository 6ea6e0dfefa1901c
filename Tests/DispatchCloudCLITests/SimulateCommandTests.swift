import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

/// `dispatch-cloud simulate` as users run it.
@Suite("dispatch-cloud simulate", .serialized)
struct SimulateCommandTests {
    static let dispatchCloud = ProcessRunner.product("dispatch-cloud")
    static let examples = ProcessRunner.repositoryRoot().appendingPathComponent("examples").path
    static let required = ProcessInfo.processInfo.environment["CI"] == "true"

    /// The first `count` containers of the bursty example (a burst with GPU jobs), as a file.
    static func workload(_ directory: TemporaryDirectory, count: Int = 12) throws -> String {
        let lines = try String(contentsOfFile: Self.examples + "/workloads/bursty.jsonl", encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") }.prefix(count)
        return try directory.write(lines.joined(separator: "\n") + "\n", to: "workload.jsonl")
    }

    static func simulate(_ arguments: [String]) async throws -> ProcessOutput {
        try await ProcessRunner.run(Self.dispatchCloud, ["simulate"] + arguments)
    }

    @Test("The same configuration, workload and seed give byte-identical --json; another seed does not")
    func deterministic() async throws {
        let directory = try TemporaryDirectory(prefix: "simulate-determinism")
        defer { directory.remove() }
        let workload = try Self.workload(directory)
        let arguments = ["--config", Self.examples + "/simulation.yml", "--workload", workload, "--json"]
        let first = try await Self.simulate(arguments + ["--seed", "11"])
        let second = try await Self.simulate(arguments + ["--seed", "11"])
        let other = try await Self.simulate(arguments + ["--seed", "12"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(!first.stdout.isEmpty && first.stdout == second.stdout)
        #expect(first.stdout != other.stdout)
        let result = try #require(
            try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any]
        )
        let containers = try #require(result["containers"] as? [String: Any])
        #expect(containers["submitted"] as? Int == 12)
        #expect(containers["unfinished"] as? Int == 0)
        #expect((result["cost"] as? Double ?? 0) > 0)
    }

    @Test("--compare runs a second configuration, --set overrides a key, and the summary shows both")
    func compareAndSet() async throws {
        let directory = try TemporaryDirectory(prefix: "simulate-compare")
        defer { directory.remove() }
        let workload = try Self.workload(directory)
        let config = Self.examples + "/simulation.yml"
        let narrow = try directory.write(
            try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(
                of: "MaxInstances: 64",
                with: "MaxInstances: 3"
            ),
            to: "narrow.yml"
        )
        let output = try await Self.simulate(["--config", config, "--workload", workload, "--compare", narrow])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("Comparison: simulation.yml → narrow.yml"), "\(output.stdout)")
        #expect(output.stdout.contains("wait p90") && output.stdout.contains("cost"))
        #expect(output.stdout.contains("peak 3;"), "the narrow configuration never exceeds 3 instances")

        let set = try await Self.simulate([
            "--config", config, "--workload", workload, "--json", "--set", "Containers.CloudVMs.MaxInstances=2",
        ])
        #expect(set.status == 0, "\(set.stderr)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(set.stdout.utf8)) as? [String: Any])
        #expect(result["peakInstances"] as? Int == 2)

        // --compare-set: the second run is the same file with the key changed (--set changes both runs).
        let what = try await Self.simulate([
            "--config", config, "--workload", workload, "--set", "Containers.CloudVMs.TimeoutIdle=5m",
            "--compare-set", "Containers.CloudVMs.MaxInstances=2",
        ])
        #expect(what.status == 0, "\(what.stderr)")
        #expect(
            what.stdout.contains("Comparison: simulation.yml → simulation.yml [MaxInstances=2]"),
            "\(what.stdout)"
        )
        // The second run never exceeds 2 instances; the first, with MaxInstances 64, is not narrowed.
        #expect(what.stdout.components(separatedBy: "peak 2;").count == 2, "\(what.stdout)")
        let badCompare = try await Self.simulate([
            "--config", config, "--workload", workload, "--compare-set", "Containers.CloudVMs.MaxInstances",
        ])
        #expect(badCompare.status == 2, "\(badCompare.stderr)")

        // A bad key value is a configuration error naming the key, exit 2; a bad workload names its line.
        let bad = try await Self.simulate([
            "--config", config, "--workload", workload, "--set", "Containers.CloudVMs.MaxInstances=many",
        ])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("MaxInstances"), "\(bad.stderr)")
        let broken = try directory.write("{\"submit\": \"1s\"}\n", to: "broken.jsonl")
        let refused = try await Self.simulate(["--config", config, "--workload", broken])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("broken.jsonl:1:"), "\(refused.stderr)")
    }

    @Test(
        "--report writes one self-contained page whose plots render in headless Chromium",
        .enabled(if: HeadlessChromium.isAvailable || Self.required),
        .timeLimit(.minutes(3))
    )
    func report() async throws {
        try #require(HeadlessChromium.isAvailable, "chromium is not installed (run scripts/bootstrap.sh)")
        let directory = try TemporaryDirectory(prefix: "simulate-report")
        defer { directory.remove() }
        let workload = try Self.workload(directory, count: 20)
        let reportDirectory = directory.file("report")
        let output = try await Self.simulate([
            "--config", Self.examples + "/simulation.yml", "--workload", workload, "--report", reportDirectory,
            "--compare", Self.examples + "/simulation.yml", "--set", "Containers.CloudVMs.TimeoutIdle=5m",
        ])
        #expect(output.status == 0, "\(output.stderr)")
        let page = try String(contentsOfFile: reportDirectory + "/report.html", encoding: .utf8)
        #expect(!page.contains("http://") && !page.contains("https://") && !page.contains("<script src"))
        #expect(FileManager.default.fileExists(atPath: reportDirectory + "/result.json"))

        let profile = try TemporaryDirectory(prefix: "chromium-profile")
        defer { profile.remove() }
        let browser = try HeadlessChromium.launch(
            userDataDirectory: profile.file("profile"),
            logFile: profile.file("chromium.log")
        )
        do {
            let session = try await browser.openPage()
            try await browser.navigate("file://\(reportDirectory)/report.html", session: session)
            try await browser.waitUntil("document.readyState === 'complete'", session: session)
            // Every plot has drawn lines or bars with a real size on the page.
            let drawn = try await browser.evaluate(
                """
                (() => { const svgs = [...document.querySelectorAll('svg')];
                  return svgs.length >= 7 && svgs.every(s => s.getBoundingClientRect().width > 300 &&
                    [...s.querySelectorAll('polyline, rect')].some(e => e.getBBox().width > 0)); })()
                """,
                session: session
            )
            #expect(drawn == .bool(true))
            let cards = try await browser.evaluate("document.querySelectorAll('.card').length", session: session)
            #expect(cards == .int(2))
            let png = try await browser.screenshot(session: session)
            try png.write(to: ProcessRunner.repositoryRoot().appendingPathComponent(".build/simulation-report.png"))
            #expect(png.count > 10_000)
        } catch {
            await browser.close()
            throw error
        }
        await browser.close()
    }
}
