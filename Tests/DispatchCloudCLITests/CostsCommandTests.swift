import ArvadosAPI
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `dispatch-cloud costs` through the built binary, over the records `serve` keeps: while it runs and after it stops.
@Suite("costs command", .serialized)
struct CostsCommandTests {
    static let dispatchCloud = ProcessRunner.product("dispatch-cloud")

    @Test("costs reads serve's records while it runs and after it stops, by type, day, container and submitter")
    func costsThroughServe() async throws {
        let directory = try TemporaryDirectory(prefix: "costs")
        defer { directory.remove() }
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.driver = "simulated"
        cluster.driverParameters = #"{"BootTime": {"Min": "1s", "Max": "1s"}, "RunTime": {"Min": "12s", "Max": "12s"}}"#
        cluster.timeoutIdle = "30s"
        let configPath = try directory.write(cluster.yaml, to: "config.yml")
        let daemon = try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve.log"))
        defer { daemon.process.signal(SIGKILL) }
        let client = ServeCommandTests.client(cluster)
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(daemon.logText)")
        let uuid = try await client.createContainer(SimulatedServeTests.attributes("costly")).uuid

        // While serve runs: the container is charged once it runs on an instance.
        let running = await eventually(timeout: .seconds(60), interval: .milliseconds(500)) { () async -> String? in
            let result = try? await ProcessRunner.run(
                Self.dispatchCloud,
                ["costs", "--config", configPath, "--by", "container"]
            )
            return result?.status == 0 && result?.stdout.contains(uuid.rawValue) == true ? result?.stdout : nil
        }
        try #require(running != nil, "costs never listed \(uuid): \(daemon.logText.suffix(2000))")
        let complete = await eventually(timeout: .seconds(60), interval: .milliseconds(500)) { () async -> Bool? in
            (try? await client.container(uuid))?.state == .complete ? true : nil
        }
        try #require(complete == true)
        daemon.process.signal(SIGTERM)
        #expect(await daemon.process.wait() == .exited(0))

        // After it stopped: the same file, every grouping.
        let byType = try await ProcessRunner.run(Self.dispatchCloud, ["costs", "--config", configPath])
        #expect(byType.status == 0, "\(byType.stderr)")
        #expect(byType.stdout.contains("small"), "\(byType.stdout)")
        #expect(byType.stdout.contains("Overhead (instances running no container):"), "\(byType.stdout)")
        let json = try await ProcessRunner.run(
            Self.dispatchCloud,
            ["costs", "--data-directory", cluster.dataDirectory, "--by", "submitter", "--since", "24h", "--json"]
        )
        #expect(json.status == 0, "\(json.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let total = try #require(report["total"] as? Double)
        let overhead = try #require(report["overhead"] as? Double)
        // small costs 0.01 an hour: ~12 s of running plus the boot and idle time before the stop, overhead.
        #expect(total > 0 && total < 0.01, "\(report)")
        #expect(overhead > 0 && overhead < total, "booting and idle time is overhead: \(report)")
        let rows = try #require(report["rows"] as? [[String: Any]])
        #expect(rows.contains { ($0["key"] as? String)?.hasPrefix("zzzzz-tpzed-") == true }, "\(rows)")
        #expect(rows.last?["key"] as? String == "(overhead)")
        let byDay = try await ProcessRunner.run(Self.dispatchCloud, ["costs", "--config", configPath, "--by", "day"])
        #expect(byDay.stdout.contains(String(Timestamp(Date()).description.prefix(10))), "\(byDay.stdout)")
    }

    @Test(
        "costs explains what is wrong: a bad --by or --since (status 2), no records yet (status 1)",
        arguments: [
            (["--by", "week"], Int32(2), "--by: expected type, day, container or submitter"),
            (["--since", "yesterday"], 2, "--since: expected a day"),
            ([], 1, "no cost records in"),
        ]
    )
    func errors(arguments: [String], status: Int32, message: String) async throws {
        let directory = try TemporaryDirectory(prefix: "costs-errors")
        defer { directory.remove() }
        let result = try await ProcessRunner.run(
            Self.dispatchCloud,
            ["costs", "--data-directory", directory.path] + arguments
        )
        #expect(result.status == status, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test("costs --help says where the records come from")
    func help() async throws {
        let result = try await ProcessRunner.run(Self.dispatchCloud, ["costs", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("costs.json") && result.stdout.contains("overhead"), "\(result.stdout)")
    }
}
