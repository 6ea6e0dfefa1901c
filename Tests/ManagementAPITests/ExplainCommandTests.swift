import DispatchModel
import DispatchTestSupport
import Foundation
import ManagementAPI
import Testing

/// `dispatch-cloud explain` and `dispatch-cloud quarantine`, run as an operator runs them.
@Suite("Explain and quarantine commands")
struct ExplainCommandTests {
    @Test("explain UUID prints the timeline and the what-if; --json the API's answer")
    func container() async throws {
        let control = RecordingDispatcherControl.sample()
        await control.set(explanation: ExplainRouteTests.sample())
        try await ManagementFixture.with(control: control) { server in
            let text = try await InstanceCommandTests.run(server, ["explain", ExplainRouteTests.uuid.rawValue])
            #expect(text.status == 0, "stderr: \(text.stderr)")
            #expect(
                text.stdout
                    == """
                    container \(ExplainRouteTests.uuid)
                      2027-01-15T08:00:00Z wait container=\(ExplainRouteTests.uuid): Waiting in queue at position 1.
                    status: Waiting in queue at position 1.
                    waiting because: position 1; MaxInstances 2 reached
                    would start if: at 3 it would start now

                    """
            )
            let json = try await InstanceCommandTests.run(
                server,
                ["explain", "--json", ExplainRouteTests.uuid.rawValue]
            )
            #expect(json.status == 0, "stderr: \(json.stderr)")
            let decoded = try JSONDecoder().decode(Explanation.self, from: Data(json.stdout.utf8))
            #expect(decoded == ExplainRouteTests.sample())
        }
    }

    @Test("explain of something unknown, and quarantine lift of a type not quarantined, exit 1 saying so")
    func unknown() async throws {
        try await ManagementFixture.with { server in
            let explain = try await InstanceCommandTests.run(server, ["explain", "i-unknown"])
            #expect(explain.status == 1)
            #expect(explain.stderr.contains("i-unknown not found"), "\(explain.stderr)")
            let list = try await InstanceCommandTests.run(server, ["quarantine"])
            #expect(list.status == 0, "stderr: \(list.stderr)")
            #expect(list.stdout.isEmpty)
            let lift = try await InstanceCommandTests.run(server, ["quarantine", "lift", "type1"])
            #expect(lift.status == 1)
            #expect(lift.stderr.contains("not quarantined"), "\(lift.stderr)")
        }
    }
}
