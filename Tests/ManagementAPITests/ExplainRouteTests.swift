import DispatchModel
import DispatchTestSupport
import Foundation
import ManagementAPI
import Testing

@Suite("Explain route")
struct ExplainRouteTests {
    static let uuid = ContainerUUID(rawValue: "zzzzz-dz642-000000000000001")

    static func sample() -> Explanation {
        Explanation(
            subject: .container(Self.uuid),
            events: [
                JournalEvent(
                    time: Timestamp(secondsSince1970: 1_800_000_000),
                    kind: .wait,
                    container: Self.uuid,
                    reason: "Waiting in queue at position 1."
                )
            ],
            schedulingStatus: "Waiting in queue at position 1.",
            waitingBecause: "position 1; MaxInstances 2 reached",
            wouldStartIf: "at 3 it would start now"
        )
    }

    @Test("explain answers the timeline and what-if as JSON, through the client too")
    func answers() async throws {
        let control = RecordingDispatcherControl()
        await control.set(explanation: Self.sample())
        try await ManagementFixture.with(control: control) { server in
            let exchange = try await server.request("GET", "arvados/v1/dispatch/explain?container_uuid=\(Self.uuid)")
            #expect(exchange.status == 200, "\(exchange.text)")
            #expect(exchange.object?["would_start_if"] as? String == "at 3 it would start now")
            #expect((exchange.object?["events"] as? [Any])?.count == 1)
            let explanation = try await server.client.explain(.container(Self.uuid))
            #expect(explanation == Self.sample())
            #expect(explanation.text.contains("would start if: at 3 it would start now"))
            #expect(explanation.text.contains("wait container=\(Self.uuid)"))
        }
    }

    @Test("explain refuses bad input with 4xx JSON errors naming the parameter, and needs the token")
    func badInput() async throws {
        try await ManagementFixture.with(control: RecordingDispatcherControl()) { server in
            let none = try await server.request("GET", "arvados/v1/dispatch/explain")
            #expect(none.status == 400)
            #expect((none.object?["errors"] as? [String])?.first?.contains("container_uuid") == true)
            let both = try await server.request(
                "GET",
                "arvados/v1/dispatch/explain?container_uuid=a&instance_id=b"
            )
            #expect(both.status == 400)
            let control = try await server.request("GET", "arvados/v1/dispatch/explain?instance_id=i%0Ab")
            #expect(control.status == 400)
            #expect((control.object?["errors"] as? [String])?.first?.contains("instance_id") == true)
            let unknown = try await server.request("GET", "arvados/v1/dispatch/explain?instance_id=i-404")
            #expect(unknown.status == 404)
            let noToken = try await server.request("GET", "arvados/v1/dispatch/explain?instance_id=i-1", headers: [:])
            #expect(noToken.status == 401)
        }
    }
}
