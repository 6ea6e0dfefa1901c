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

/// `/metrics` of a real `serve`, checked by Prometheus's own linter.
@Suite("Metrics exposition through serve", .serialized)
struct MetricsExpositionServeTests {
    /// Arvados's metric names that break Prometheus's `_total` naming rule, kept on purpose (dashboards use them).
    static let arvadosTotalSuffixNames: Set<String> = [
        "arvados_dispatchcloud_driver_operations", "arvados_dispatchcloud_boot_outcomes",
        "arvados_dispatchcloud_instances_disappeared", "arvados_dispatchcloud_instances_total",
        "arvados_dispatchcloud_vcpus_total", "arvados_dispatchcloud_memory_bytes_total",
    ]

    static var promtool: String? {
        ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test(
        "promtool check metrics passes on serve's /metrics but for Arvados's own _total names; every family has HELP; config timestamps",
        .enabled(if: Self.promtool != nil || ProcessInfo.processInfo.environment["CI"] == "true")
    )
    func promtoolCheck() async throws {
        let promtool = try #require(
            Self.promtool,
            "promtool is missing: scripts/bootstrap.sh installs Debian's prometheus"
        )
        let directory = try TemporaryDirectory(prefix: "metrics-promtool")
        defer { directory.remove() }
        let (cluster, configPath) = try ServeCommandTests.setUp(directory, processSandboxMode: "none")
        let daemon = try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve.log"))
        defer { daemon.process.signal(SIGKILL) }
        let client = ServeCommandTests.client(cluster)
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(daemon.logText)")
        // One container end to end, so the summaries and the queue have samples.
        let container = try await client.createContainer([
            "command": .array([.string("true")]),
            "container_image": .string("test-image"),
            "output_path": .string("/tmp"),
            "priority": .int(1),
            "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(64 << 20)]),
        ])
        let done = await eventually(timeout: .seconds(60), interval: .milliseconds(200)) { () async -> Bool? in
            (try? await client.container(container.uuid))?.state.isFinal == true ? true : nil
        }
        try #require(done == true, "\(daemon.logText)")

        let port = try #require(cluster.managementPort)
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        request.setValue("Bearer \(cluster.managementToken)", forHTTPHeaderField: "Authorization")
        let (body, _) = try await URLSession.shared.data(for: request)
        let exposition = String(decoding: body, as: UTF8.self)
        let metricsFile = try directory.write(exposition, to: "metrics.txt")

        let checked = try await ProcessRunner.run(
            URL(fileURLWithPath: "/bin/sh"),
            ["-c", "\"$1\" check metrics < \"$2\"", "sh", promtool, metricsFile]
        )
        print("promtool check metrics (exit \(checked.status)):\n\(checked.stdout)\(checked.stderr)")
        for line in (checked.stdout + checked.stderr).split(separator: "\n") {
            // `<name> counter metrics should have "_total" suffix` (and the converse for gauges).
            let name = String(line.prefix(while: { $0 != " " }))
            let allowed = line.contains("\"_total\" suffix") && Self.arvadosTotalSuffixNames.contains(name)
            #expect(allowed, "promtool: \(line)")
        }

        // Every family has its help text.
        let lines = exposition.split(separator: "\n")
        let typed = Set(lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
        let helped = Set(lines.filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
        #expect(typed.subtracting(helped).isEmpty, "no HELP: \(typed.subtracting(helped).sorted())")
        #expect(typed.contains("arvados_dispatchcloud_containers_running"))
        // The polite API client's limiter is in use (its limit starts at 8 and grows while answers are good).
        #expect(typed.contains("arvados_dispatchcloud_api_client_concurrency_limit"))
        #expect(typed.contains("arvados_dispatchcloud_api_client_requests_in_flight"))

        // The configuration's SHA-256 and times, as Arvados's lib/config reports them.
        let sha256 = try await ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/sha256sum"), [configPath])
        let digest = String(sha256.stdout.prefix(64))
        #expect(exposition.contains("arvados_config_load_timestamp_seconds{sha256=\"\(digest)\"} "), "\(exposition)")
        let source = try #require(
            lines.first { $0.hasPrefix("arvados_config_source_timestamp_seconds{sha256=\"\(digest)\"} ") }
        )
        let modified = try #require(
            try FileManager.default.attributesOfItem(atPath: configPath)[.modificationDate] as? Date
        )
        #expect(abs((Double(source.split(separator: " ")[1]) ?? 0) - modified.timeIntervalSince1970) < 1)
        daemon.process.signal(SIGTERM)
        _ = await daemon.process.wait()
    }
}
