import ArvadosAPI
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import ManagementAPI
import Testing
import WorkerPool

@testable import DispatchCloud

/// The dashboard in headless Chromium against a running dispatcher over the simulated cloud.
@Suite("Dashboard against a running dispatcher")
struct DashboardEndToEndTests {
    static let required = ProcessInfo.processInfo.environment["CI"] == "true"
    static let screenshotPath = ProcessRunner.repositoryRoot()
        .appendingPathComponent(".build/dashboard-dispatcher-screenshot.png").path

    @Test(
        "The dashboard lists the dispatcher's instances and queue, and its hold button holds a real instance",
        .enabled(if: HeadlessChromium.isAvailable || Self.required),
        .timeLimit(.minutes(3))
    )
    func dashboard() async throws {
        try #require(HeadlessChromium.isAvailable, "chromium is not installed (run scripts/bootstrap.sh)")
        let directory = try TemporaryDirectory(prefix: "e2e-dashboard")
        defer { directory.remove() }
        var cluster = StandaloneCluster(dataDirectory: directory.path, apiPort: try LoopbackPort.free())
        cluster.driver = "simulated"
        cluster.driverParameters =
            #"{"BootTime": {"Min": "100ms", "Max": "300ms"}, "RunTime": {"Min": "10m", "Max": "10m"}}"#
        cluster.timeoutIdle = "10m"
        let managementPort = try LoopbackPort.free()
        cluster.managementPort = managementPort
        let config = try ClusterConfig.load(yaml: cluster.yaml, sourceName: "test").config
        var logger = Logger(label: "e2e-dashboard")
        logger.logLevel = .warning
        let dispatcher = try Dispatcher(
            config: config,
            drivers: StandaloneEndToEndTests.drivers,
            logger: logger,
            metrics: MetricsRegistry(version: "test"),
            runnerSearchDirectory: ProcessRunner.productsDirectory.path
        )
        let service = Task { try await dispatcher.run(signals: false) }
        defer { service.cancel() }
        let client = ArvadosClient(baseURL: URL(string: cluster.apiURL)!, token: cluster.submitterToken)
        try #require(await eventually { try? await client.currentAuthorization() } != nil)
        for index in 0..<3 {
            _ = try await StandaloneEndToEndTests.submit(client, StandaloneEndToEndTests.Job(index))
        }
        let running = await eventually(timeout: .seconds(60)) { () async -> [InstanceView]? in
            let views = await dispatcher.pool.instances()
            return views.contains { !$0.runningContainerUUIDs.isEmpty } ? views : nil
        }
        try #require(running != nil, "no simulated instance ran a container")

        let profile = try TemporaryDirectory(prefix: "chromium-profile")
        defer { profile.remove() }
        let browser = try HeadlessChromium.launch(
            userDataDirectory: profile.file("profile"),
            logFile: profile.file("chromium.log")
        )
        do {
            let page = try await browser.openPage()
            try await browser.navigate("http://127.0.0.1:\(managementPort)/", session: page)
            try await browser.waitUntil(
                "document.getElementById('login') && !document.getElementById('login').hidden",
                session: page
            )
            let literal = String(decoding: try JSONEncoder().encode(cluster.managementToken), as: UTF8.self)
            _ = try await browser.evaluate(
                "document.getElementById('token').value = \(literal); document.getElementById('login').requestSubmit(); true",
                session: page
            )
            try await browser.waitUntil(
                "document.body.dataset.loaded === 'true' && "
                    + "document.querySelectorAll('#instances tbody tr[data-instance]').length > 0 && "
                    + "document.querySelectorAll('#queue tbody tr[data-container]').length === 3",
                session: page
            )
            let first = try await browser.evaluate(
                "document.querySelector('#instances tbody tr[data-instance]').dataset.instance",
                session: page
            )
            let id = try #require(first.stringValue)
            #expect(await dispatcher.pool.instances().contains { $0.instance?.rawValue == id })
            let clicked = try await browser.evaluate(
                "(() => { const b = document.querySelector('button[data-action=\"hold\"][data-instance=\"\(id)\"]');"
                    + " if (!b) return false; b.click(); return true; })()",
                session: page
            )
            #expect(clicked == .bool(true))
            let held = await eventually { () async -> Bool? in
                await dispatcher.pool.instances().first { $0.instance?.rawValue == id }?.idleBehavior == .hold
                    ? true : nil
            }
            #expect(held == true, "the hold button did not hold instance \(id)")
            try await browser.waitUntil(
                "document.querySelector('tr[data-instance=\"\(id)\"] td.behavior').textContent === 'hold'",
                session: page
            )
            let png = try await browser.screenshot(session: page)
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
            try png.write(to: URL(fileURLWithPath: Self.screenshotPath))
            print("dashboard screenshot: \(Self.screenshotPath)")
        } catch {
            await browser.close()
            throw error
        }
        await browser.close()
        await dispatcher.shutdown()
        _ = await service.result
    }
}
