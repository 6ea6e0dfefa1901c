import DispatchModel
import DispatchTestSupport
import Foundation
import ManagementAPI
import Testing

/// The dashboard's timeline view in headless Chromium: a queue row's button opens the container's timeline
/// and what-if from `explain`; the quarantine badge shows what is quarantined.
@Suite("Dashboard timeline in a browser")
struct DashboardTimelineTests {
    /// Where the screenshot of the last run is saved (copied to docs/images/explain.png by hand).
    static let screenshotPath = ProcessRunner.repositoryRoot().appendingPathComponent(".build/explain-screenshot.png")
        .path
    static let queued: ContainerUUID = "zzzzz-dz642-queuedcontainer"

    static func explanation() -> Explanation {
        let base = Timestamp.now().secondsSince1970 - 300
        func at(_ offset: Int64) -> Timestamp { Timestamp(secondsSince1970: base + offset) }
        return Explanation(
            subject: .container(Self.queued),
            events: [
                JournalEvent(
                    time: at(0),
                    kind: .wait,
                    container: Self.queued,
                    reason: "Waiting in queue at position 1.  Cluster is at cloud account limits and cannot start "
                        + "any new instances right now."
                ),
                JournalEvent(
                    time: at(60),
                    kind: .hold,
                    instanceType: "type1",
                    reason: "cloud out of capacity for providertype1: creates held",
                    figures: [.init("error", "insufficientCapacity"), .init("until", at(120).rfc3339)]
                ),
                JournalEvent(
                    time: at(61),
                    kind: .wait,
                    container: Self.queued,
                    reason: "Waiting in queue at position 1.  Cluster is at capacity for all eligible instance "
                        + "types (type1, type2) and cannot start a new instance right now."
                ),
            ],
            schedulingStatus: "Waiting in queue at position 1.",
            waitingBecause: "position 1; capacity held for type1 until \(at(120).rfc3339)",
            wouldStartIf: "type2 would start now at $0.12/h more"
        )
    }

    @Test(
        "A queue row's timeline button shows the container's decisions and what-if",
        .enabled(if: HeadlessChromium.isAvailable || DashboardBrowserTests.required),
        .timeLimit(.minutes(2))
    )
    func timeline() async throws {
        try #require(HeadlessChromium.isAvailable, "chromium is not installed (run scripts/bootstrap.sh)")
        let control = RecordingDispatcherControl.sample()
        await control.set(explanation: Self.explanation())
        try await ManagementFixture.with(control: control, metrics: MetricsRegistry(version: "test")) { server in
            let profile = try TemporaryDirectory(prefix: "chromium-profile")
            defer { profile.remove() }
            let browser = try HeadlessChromium.launch(
                userDataDirectory: profile.file("profile"),
                logFile: profile.file("chromium.log")
            )
            do {
                let page = try await browser.openPage()
                try await browser.navigate(server.baseURL.absoluteString, session: page)
                try await browser.waitUntil("document.readyState === 'complete'", session: page)
                try await DashboardBrowserTests.submitToken(ManagementFixture.token, browser, page)
                try await browser.waitUntil(
                    "document.body.dataset.loaded === 'true' && "
                        + "document.querySelector('button[data-action=\"timeline\"][data-container=\"\(Self.queued)\"]')",
                    session: page
                )
                #expect(
                    try await browser.evaluate("document.getElementById('timeline').hidden", session: page)
                        == .bool(true)
                )
                _ = try await browser.evaluate(
                    "document.querySelector('button[data-action=\"timeline\"][data-container=\"\(Self.queued)\"]')"
                        + ".click(); true",
                    session: page
                )
                try await browser.waitUntil(
                    "document.querySelectorAll('#timeline-events tbody tr[data-kind]').length === 3",
                    session: page
                )
                let kinds = try await browser.evaluate(
                    "Array.from(document.querySelectorAll('#timeline-events tbody tr')).map(r => r.dataset.kind)",
                    session: page
                )
                #expect(kinds == .array([.string("wait"), .string("hold"), .string("wait")]))
                let whatIf = try await browser.evaluate(
                    "document.getElementById('timeline-whatif').textContent",
                    session: page
                )
                #expect(whatIf.stringValue?.contains("Would start if: type2 would start now at $0.12/h more") == true)
                let title = try await browser.evaluate(
                    "document.getElementById('timeline-title').textContent",
                    session: page
                )
                #expect(title == .string("Container \(Self.queued)"))
                // An instance without journal events answers 404: the view says so instead of failing silently.
                _ = try await browser.evaluate(
                    "document.querySelector('button[data-action=\"timeline\"][data-instance=\"i-00000002\"]')"
                        + ".click(); true",
                    session: page
                )
                try await browser.waitUntil(
                    "document.getElementById('timeline-whatif').textContent.startsWith('error:')",
                    session: page
                )
                _ = try await browser.evaluate(
                    "document.querySelector('button[data-action=\"timeline\"][data-container=\"\(Self.queued)\"]')"
                        + ".click(); true",
                    session: page
                )
                try await browser.waitUntil(
                    "document.querySelectorAll('#timeline-events tbody tr[data-kind]').length === 3",
                    session: page
                )
                let png = try await browser.screenshot(session: page)
                try? FileManager.default.createDirectory(
                    atPath: (Self.screenshotPath as NSString).deletingLastPathComponent,
                    withIntermediateDirectories: true
                )
                try png.write(to: URL(fileURLWithPath: Self.screenshotPath))
                print("explain screenshot: \(Self.screenshotPath)")
            } catch {
                let log = (try? String(contentsOfFile: profile.file("chromium.log.stderr"), encoding: .utf8)) ?? ""
                await browser.close()
                Issue.record("browser log (last 2000 characters): \(log.suffix(2000))")
                throw error
            }
            await browser.close()
        }
    }
}
