import DispatchModel
import DispatchTestSupport
import Foundation
import ManagementAPI
import Testing

/// The dashboard in headless Chromium against a live management server on 127.0.0.1.
///
/// Runs when `/usr/bin/chromium` exists, and always under `CI=true` (where a missing browser is a failure:
/// `scripts/bootstrap.sh` installs it).
@Suite("Dashboard in a browser")
struct DashboardBrowserTests {
    static let required = ProcessInfo.processInfo.environment["CI"] == "true"

    /// Where the screenshot of the last run is saved.
    static let screenshotPath = ProcessRunner.repositoryRoot().appendingPathComponent(".build/dashboard-screenshot.png")
        .path

    @Test(
        "The dashboard asks for the token, fills its tables and charts, and its hold button holds the instance",
        .enabled(if: HeadlessChromium.isAvailable || Self.required),
        .timeLimit(.minutes(2))
    )
    func dashboard() async throws {
        try #require(HeadlessChromium.isAvailable, "chromium is not installed (run scripts/bootstrap.sh)")
        let control = RecordingDispatcherControl.sample()
        await control.set(
            costs: CostSummary(
                days: [
                    .init(day: "2026-12-01", cost: 4, overhead: 1), .init(day: "2026-12-02", cost: 6, overhead: 0.5),
                    .init(day: "2026-12-03", cost: 2, overhead: 0.5),
                ],
                total: 12,
                overhead: 2,
                overheadShare: 2.0 / 12
            )
        )
        try await ManagementFixture.with(control: control, metrics: MetricsRegistry(version: "test")) { server in
            let profile = try TemporaryDirectory(prefix: "chromium-profile")
            defer { profile.remove() }
            let browser = try HeadlessChromium.launch(
                userDataDirectory: profile.file("profile"),
                logFile: profile.file("chromium.log")
            )
            do {
                try await Self.drive(browser, server: server, control: control)
            } catch {
                let log = (try? String(contentsOfFile: profile.file("chromium.log.stderr"), encoding: .utf8)) ?? ""
                await browser.close()
                Issue.record("browser log (last 2000 characters): \(log.suffix(2000))")
                throw error
            }
            await browser.close()
        }
    }

    static func drive(
        _ browser: HeadlessChromium,
        server: ManagementFixture,
        control: RecordingDispatcherControl
    )
        async throws
    {
        let page = try await browser.openPage()
        try await browser.navigate(server.baseURL.absoluteString, session: page)
        try await browser.waitUntil("document.readyState === 'complete'", session: page)
        // The page keeps its chart history in sessionStorage: an hour of earlier samples survives the reload.
        _ = try await browser.evaluate(
            """
            (() => { const now = Date.now(), points = [];
              for (let i = 60; i >= 1; i--) {
                const wave = (k) => Math.max(0, Math.round(k * (1 + Math.sin(i / 9))));
                points.push({ t: now - i * 59000, running: wave(3), queued: wave(5), inuse: wave(1.5), hold: 1,
                  booting: i % 10 === 0 ? 1 : 0, unknown: 0, idle: i > 30 ? 2 : 1 });
              }
              sessionStorage.setItem("dispatch-cloud.history", JSON.stringify(points));
              location.reload(); return true; })()
            """,
            session: page
        )
        try await browser.waitUntil(
            "document.readyState === 'complete' && performance.getEntriesByType('navigation')[0].type === 'reload'",
            session: page
        )
        try await browser.waitUntil(
            "document.getElementById('login') && !document.getElementById('login').hidden",
            session: page
        )

        // A wrong token brings the form back with the reason.
        try await Self.submitToken("not-the-token", browser, page)
        try await browser.waitUntil(
            "!document.getElementById('login-error').hidden && "
                + "document.getElementById('login-error').textContent.includes('wrong')",
            session: page
        )

        try await Self.submitToken(ManagementFixture.token, browser, page)
        try await browser.waitUntil(
            "document.body.dataset.loaded === 'true' && "
                + "document.querySelectorAll('#instances tbody tr[data-instance]').length === 3",
            session: page
        )
        let instances = try await browser.evaluate(
            "Array.from(document.querySelectorAll('#instances tbody tr')).map(r => r.dataset.instance)",
            session: page
        )
        #expect(instances == .array([.string("i-00000001"), .string("i-00000002"), .string("i-00000003")]))
        let queue = try await browser.evaluate(
            "Array.from(document.querySelectorAll('#queue tbody tr')).map(r => r.dataset.container + ' ' + r.dataset.state)",
            session: page
        )
        #expect(
            queue
                == .array([
                    .string("zzzzz-dz642-runningcontain1 Running"), .string("zzzzz-dz642-lockedcontainer Locked"),
                    .string("zzzzz-dz642-queuedcontainer Queued"),
                ])
        )
        let statusText = try await browser.evaluate(
            "document.querySelector('#queue tr[data-container=\"zzzzz-dz642-queuedcontainer\"] td.status').textContent",
            session: page
        )
        #expect(statusText.stringValue?.hasPrefix("Waiting in queue at position 1.") == true)
        let cards = try await browser.evaluate(
            "['instances','running','queue','spend'].map(c => document.getElementById('card-' + c).textContent)",
            session: page
        )
        #expect(cards == .array([.string("3"), .string("1"), .string("2"), .string("0.49 /h")]))
        // The spend card's day chart (a used and an overhead bar per day) and the overhead share.
        let spend = try await browser.evaluate(
            "[document.getElementById('card-overhead').textContent, "
                + "document.querySelectorAll('#chart-spend-days rect.used').length, "
                + "document.querySelectorAll('#chart-spend-days rect.overhead').length]",
            session: page
        )
        #expect(spend == .array([.string("overhead 16.7% of 12.00 over 3 days"), .int(3), .int(3)]))
        let lines = try await browser.evaluate(
            "['instances','running','queue'].map(c => document.querySelectorAll('#chart-' + c + ' polyline').length)",
            session: page
        )
        #expect(lines == .array([.int(5), .int(1), .int(1)]))
        let points = try await browser.evaluate(
            "document.querySelector('#chart-running polyline').getAttribute('points').split(' ').length",
            session: page
        )
        // 60 stored samples and the new one; a loaded machine may let the page's periodic refresh add one more.
        #expect(points == .int(61) || points == .int(62), "60 stored samples and the new one: \(points)")

        // The hold button calls the API, and the table shows the new behaviour.
        let events = control.callEvents
        let call = Task { () -> RecordingDispatcherControl.Call? in
            for await call in events { return call }
            return nil
        }
        let clicked = try await browser.evaluate(
            "(() => { const b = document.querySelector('button[data-action=\"hold\"][data-instance=\"i-00000002\"]');"
                + " if (!b) return false; b.click(); return true; })()",
            session: page
        )
        #expect(clicked == .bool(true))
        let timeout = Task {
            try await Task.sleep(for: .seconds(20))
            call.cancel()
        }
        defer { timeout.cancel() }
        #expect(await call.value == .setIdleBehavior("i-00000002", .hold))
        try await browser.waitUntil(
            "document.querySelector('tr[data-instance=\"i-00000002\"] td.behavior').textContent === 'hold'",
            session: page
        )

        let png = try await browser.screenshot(session: page)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        try png.write(to: URL(fileURLWithPath: Self.screenshotPath))
        print("dashboard screenshot: \(Self.screenshotPath)")
    }

    static func submitToken(_ token: String, _ browser: HeadlessChromium, _ page: String) async throws {
        let literal = String(decoding: try JSONEncoder().encode(token), as: UTF8.self)
        _ = try await browser.evaluate(
            "document.getElementById('token').value = \(literal); document.getElementById('login').requestSubmit(); true",
            session: page
        )
    }
}
