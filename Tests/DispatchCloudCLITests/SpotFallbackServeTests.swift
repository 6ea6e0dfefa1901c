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

/// Spot with on-demand fallback through the built `dispatch-cloud serve` on the simulated driver: the spot type
/// never has capacity, so after `SpotFallbackAfter` every preemptible container runs on on-demand, and says so.
@Suite("Spot fallback through serve", .serialized)
struct SpotFallbackServeTests {
    /// The hold: the issue asks for 2 minutes; 10 s keeps the test short, and the rule is the same.
    static let hold = 10

    @Test(
        "Spot capacity errors on every create, SpotFallbackAfter 10s: every container completes on on-demand after the hold",
        .timeLimit(.minutes(3))
    )
    func fallbackThroughServe() async throws {
        let directory = try TemporaryDirectory(prefix: "serve-spot-fallback")
        defer { directory.remove() }
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.managementPort = try LoopbackPort.free()
        cluster.driver = "simulated"
        // Boots of 5-6 s: the listing shows the fallback while the on-demand instances boot, a window that the
        // test's polls, slowed by a loaded machine (the whole suite beside it), must not miss.
        cluster.driverParameters =
            #"{"BootTime": {"Min": "5s", "Max": "6s"}, "RunTime": {"Min": "500ms", "Max": "1s"}, "#
            + #""SpotCapacityErrors": {"small": 1}, "Seed": 20}"#
        cluster.maxInstances = 10
        cluster.extraClusterYAML = "      SpotFallbackAfter: \(Self.hold)s"
        // A spot variant of `small` (same provider type, cheaper): the only type a preemptible container may use.
        cluster.instanceTypesYAML +=
            "\n      small.spot:\n        ProviderType: small\n        Preemptible: true\n"
            + "        VCPUs: 1\n        RAM: 1GiB\n        IncludedScratch: 2GiB\n        Price: 0.004"
        let configPath = try directory.write(cluster.yaml, to: "config.yml")
        let daemon = try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve.log"))
        defer { daemon.process.signal(SIGKILL) }
        let client = ServeCommandTests.client(cluster)
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(daemon.logText)")

        var uuids: [ContainerUUID] = []
        for i in 0..<5 {
            var attributes = SimulatedServeTests.attributes("spot-\(i)")
            attributes["scheduling_parameters"] = .object(["preemptible": .bool(true)])
            uuids.append(try await client.createContainer(attributes).uuid)
        }

        // While they wait, the management listing says they wait for spot; once fallen back, it says why.
        let noted = await eventually(timeout: .seconds(60), interval: .milliseconds(250)) { () async -> String? in
            let listing = try? await SpendCapServeTests.management(cluster, "/arvados/v1/dispatch/containers")
            return listing?.contains("Fell back from spot") == true ? listing : nil
        }
        #expect(noted?.contains("every eligible spot type held for capacity for 10s") == true, "\(noted ?? "")")

        var final: [ContainerUUID: Container] = [:]
        let finished = await eventually(timeout: .seconds(90), interval: .milliseconds(500)) { () async -> Bool? in
            let page = try? await client.containers(
                filters: [ArvadosFilter("state", "in", .array([.string("Complete"), .string("Cancelled")]))],
                limit: 100
            )
            for container in page?.items ?? [] { final[container.uuid] = container }
            return final.count == uuids.count ? true : nil
        }
        try #require(finished == true, "\(final.count) of 5 finished; log: \(daemon.logText.suffix(3000))")
        var waits: [Double] = []
        for uuid in uuids {
            let container = try #require(final[uuid])
            #expect(container.state == .complete, "\(uuid) ended \(container.state): \(container.runtimeStatus)")
            // runtime_status says when and why, through the API.
            #expect(
                container.runtimeStatus["warning"] == .string("Fell back from spot to on-demand instances"),
                "\(container.runtimeStatus)"
            )
            let detail = container.runtimeStatus["warningDetail"]?.stringValue ?? ""
            #expect(detail.contains("every eligible spot type held for capacity for 10s"), "\(detail)")
            // It cannot have started before the hold had passed.
            let created = try #require(container.createdAt)
            let started = try #require(container.startedAt)
            let wait = started.date.timeIntervalSince(created.date)
            #expect(wait >= Double(Self.hold), "\(uuid) started \(wait) s after it was created")
            waits.append(wait)
        }
        print("spot fallback through serve: waits \(waits.map { String(format: "%.1f", $0) }) s, hold \(Self.hold) s")
        // The simulated cloud never gave a spot instance: the log shows the fallbacks.
        #expect(daemon.logText.contains("Container falls back from spot to on-demand"))
        daemon.process.signal(SIGTERM)
        #expect(await daemon.process.wait() == .exited(0))
    }
}
