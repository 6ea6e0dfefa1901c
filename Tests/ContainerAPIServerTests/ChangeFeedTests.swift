import DispatchModel
import Foundation
import NIOHTTP1
import Testing

@testable import ContainerAPIServer

/// The in-process feed of committed container changes an embedded dispatcher reads instead of polling.
@Suite("Change feed")
struct ChangeFeedTests {
    /// Takes batches until `count` containers have arrived.
    static func take(_ count: Int, from subscription: ChangeFeed.Subscription) async -> [Container] {
        var containers: [Container] = []
        while containers.count < count, let batch = await subscription.next() {
            containers += batch.containers
        }
        return containers
    }

    @Test("Creates, locks and updates made over HTTP are pushed in commit order as stored; a refused one is not")
    func commitOrder() async throws {
        try await LiveServer.with { server in
            let subscription = try #require(server.changes).subscribe()
            defer { subscription.cancel() }
            let uuid = try await server.createContainer().json.uuid
            #expect(try await server.call(.POST, "/arvados/v1/containers/\(uuid)/lock").status == 200)
            let running = try await server.call(
                .PUT,
                "/arvados/v1/containers/\(uuid)",
                json: .object(["container": .object(["state": .string("Running")])])
            )
            #expect(running.status == 200)
            // Queued is not reachable from Running: refused, so nothing is committed or pushed.
            let refused = try await server.call(
                .PUT,
                "/arvados/v1/containers/\(uuid)",
                json: .object(["container": .object(["state": .string("Queued")])])
            )
            #expect(refused.status == 422)
            let complete = try await server.call(
                .PUT,
                "/arvados/v1/containers/\(uuid)",
                json: .object(["container": .object(["state": .string("Complete"), "exit_code": .int(3)])])
            )
            #expect(complete.status == 200)
            let answered = Timestamp.now()

            let pushed = await Self.take(4, from: subscription)
            #expect(pushed.map(\.uuid.rawValue) == Array(repeating: uuid, count: 4))
            #expect(pushed.map(\.state) == [.queued, .locked, .running, .complete])
            #expect(pushed.last?.exitCode == 3)
            // The pushed record is the stored one, down to the etag the API answered with.
            #expect(pushed.last?.etag == complete["etag"]?.stringValue)
            #expect(pushed.first?.command == ["echo", "hello"])

            // Nothing else was pushed, and a later batch is taken after every answered request.
            _ = try await server.createContainer()
            let next = await subscription.next()
            #expect(next?.containers.count == 1)
            #expect(next?.containers.first?.uuid.rawValue != uuid)
            #expect(next.map { $0.complete > answered } == true)
        }
    }

    @Test("Changes wait for a slow subscriber and arrive in one batch; a cancelled subscription ends")
    func batchingAndCancel() async throws {
        try await LiveServer.with { server in
            let subscription = try #require(server.changes).subscribe()
            for _ in 0..<5 { _ = try await server.createContainer() }
            let batch = await subscription.next()
            #expect(batch?.containers.count == 5)
            subscription.cancel()
            _ = try await server.createContainer()
            #expect(await subscription.next() == nil)
        }
    }
}
