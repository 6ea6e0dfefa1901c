import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

/// The API answers while the dispatcher in the same process keeps Swift's cooperative pool busy: its requests run
/// on their own threads (at 10,000 containers, a client's GET waited up to 0.9 s behind the dispatcher's jobs).
@Suite("Container API requests while the cooperative pool is busy")
struct RequestExecutorTests {
    @Test("A GET and a list are answered while every cooperative thread is blocked")
    func answersWhilePoolIsBlocked() async throws {
        try await LiveServer.with { live in
            let created = try await live.createContainer()
            let uuid = try #require(created["uuid"]?.stringValue)
            let port = live.port
            let query = try LiveServer.query([
                "filters": .array([.array([.string("state"), .string("="), .string("Queued")])]),
                "order": .array([.string("priority desc"), .string("created_at")]),
            ])
            let answers = await CooperativePoolBlocker.whileBlocked { busyThreads in
                let paths = ["/arvados/v1/containers/\(uuid)", "/arvados/v1/containers\(query)"]
                let responses = paths.map { path -> (response: RawHTTP.Response?, error: String) in
                    do {
                        let response = try RawHTTP.blockingExchange(
                            port: port,
                            head: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                + "Authorization: Bearer \(TestTokens.root)\r\nConnection: close\r\n\r\n",
                            // A hang bound: without its own threads the request waits for the pool's release.
                            timeoutSeconds: 10
                        )
                        return (response, "")
                    } catch {
                        return (nil, "\(error)")
                    }
                }
                return (busyThreads, responses)
            }
            #expect(answers.0 >= 1)
            let get = try #require(answers.1[0].response, "\(answers.1[0].error)")
            #expect(get.status == 200)
            #expect(String(decoding: get.body, as: UTF8.self).contains(uuid))
            let list = try #require(answers.1[1].response, "\(answers.1[1].error)")
            #expect(list.status == 200)
            #expect(String(decoding: list.body, as: UTF8.self).contains(uuid))
        }
    }
}
