import ArvadosAPI
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

#if canImport(Glibc)
import Glibc
#endif

/// The spend caps through `serve` on the loopback driver: a container whose only type is dearer than
/// `MaxHourlySpend` waits with the cap's status while a cheaper one runs, and the daily ledger survives a restart.
@Suite("Spend caps through serve", .serialized)
struct SpendCapServeTests {
    static func management(_ cluster: StandaloneCluster, _ path: String) async throws -> String {
        let port = try #require(cluster.managementPort)
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.setValue("Bearer \(cluster.managementToken)", forHTTPHeaderField: "Authorization")
        let (body, _) = try await URLSession.shared.data(for: request)
        return String(decoding: body, as: UTF8.self)
    }

    /// The value of an unlabelled sample in a Prometheus exposition.
    static func sample(_ exposition: String, _ name: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ")[1])
        }
        return nil
    }

    @Test(
        "At MaxHourlySpend a dearer container waits with the cap's status; MaxSpendPerDay's ledger survives a restart"
    )
    func capsThroughServe() async throws {
        let directory = try TemporaryDirectory(prefix: "spend-caps")
        defer { directory.remove() }
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.managementPort = try LoopbackPort.free()
        cluster.processSandboxMode = "none"
        // small costs 0.01 an hour, medium 0.02: only small fits under the cap.
        cluster.extraClusterYAML = "      MaxHourlySpend: 0.015\n      MaxSpendPerDay: 5"
        let configPath = try directory.write(cluster.yaml, to: "config.yml")
        var daemon = try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve.log"))
        defer { daemon.process.signal(SIGKILL) }
        let client = ServeCommandTests.client(cluster)
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(daemon.logText)")

        func submit(vcpus: Int) async throws -> ContainerUUID {
            try await client.createContainer([
                "command": .array([.string("true")]),
                "container_image": .string("test-image"),
                "output_path": .string("/tmp"),
                "priority": .int(1),
                "runtime_constraints": .object(["vcpus": .int(Int64(vcpus)), "ram": .int(64 << 20)]),
            ]).uuid
        }
        let dear = try await submit(vcpus: 2)
        let cheap = try await submit(vcpus: 1)
        let done = await eventually(timeout: .seconds(90), interval: .milliseconds(200)) { () async -> Bool? in
            (try? await client.container(cheap))?.state == .complete ? true : nil
        }
        try #require(done == true, "\(daemon.logText)")

        let waiting = await eventually(timeout: .seconds(30), interval: .milliseconds(200)) { () async -> String? in
            guard let listing = try? await Self.management(cluster, "/arvados/v1/dispatch/containers"),
                listing.contains(dear.rawValue), listing.contains("waiting: hourly spend cap of $0.015 reached")
            else { return nil }
            return listing
        }
        #expect(waiting != nil, "\(daemon.logText)")
        #expect(try await client.container(dear).state != .running)
        let metrics = try await Self.management(cluster, "/metrics")
        #expect(Self.sample(metrics, "arvados_dispatchcloud_max_hourly_spend") == 0.015)
        #expect(Self.sample(metrics, "arvados_dispatchcloud_max_spend_per_day") == 5)
        #expect(Self.sample(metrics, "arvados_dispatchcloud_containers_waiting_on_spend_cap") == 1)

        // The small instance has cost something; a graceful stop saves the ledger, a restart reads it back.
        daemon.process.signal(SIGTERM)
        _ = await daemon.process.wait()
        let ledgerPath = cluster.dataDirectory + "/spend-ledger.json"
        let ledger = try String(contentsOfFile: ledgerPath, encoding: .utf8)
        #expect(ledger.contains("\"minutes\""), "\(ledger)")
        daemon = try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve2.log"))
        let restored = await eventually(timeout: .seconds(60), interval: .milliseconds(200)) { () async -> Double? in
            guard let metrics = try? await Self.management(cluster, "/metrics"),
                let spent = Self.sample(metrics, "arvados_dispatchcloud_spend_in_window"), spent > 0
            else { return nil }
            return spent
        }
        #expect(restored != nil, "\(daemon.logText)")
    }
}
