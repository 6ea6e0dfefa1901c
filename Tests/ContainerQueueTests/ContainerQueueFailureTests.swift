import ArvadosAPI
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import ContainerQueue

/// The queue when the API fails: polls back off and are logged with a count, and a refused lock makes the
/// queue look again instead of keeping a state the API disagrees with.
@Suite("Container queue failures")
struct ContainerQueueFailureTests {
    /// An API that answers every request 500 with an Arvados error body, as the embedded API does on a full
    /// disk, and counts the requests.
    final class FailingTransport: ArvadosTransport {
        let requests = Mutex(0)

        func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
            self.requests.withLock { $0 += 1 }
            let body = #"{"errors":["Database write failed: database or disk is full"],"error_token":"t"}"#
            return ArvadosHTTPResponse(status: 500, body: Array(body.utf8))
        }
    }

    @Test("Failing polls back off exponentially and log once a minute")
    func pollBackoff() async throws {
        let transport = FailingTransport()
        let clock = ManualClock()
        let lines = LogLines()
        var configuration = ContainerQueue<ManualClock>.Configuration()
        configuration.pollInterval = .seconds(10)
        configuration.maxPollRetryInterval = .seconds(60)
        let queue = ContainerQueue(
            client: ArvadosClient(baseURL: URL(string: "http://127.0.0.1:9")!, token: "t", transport: transport),
            chooser: ContainerQueueTests.menu,
            configuration: configuration,
            clock: clock,
            logger: lines.logger()
        )
        let task = Task { try await queue.run() }
        // Ten simulated minutes, a second at a time.
        for _ in 0..<600 {
            await clock.waitForSleepers(1)
            clock.advance(by: .seconds(1))
        }
        task.cancel()
        _ = try? await task.value

        // Waits of at least 10, 10, 20, 30, 30… s: at most 4 + 530 / 30 + 1 = 22 polls in 600 s; polling at
        // every `pollInterval` would make 60.
        let polls = transport.requests.withLock { $0 }
        #expect(polls >= 10)
        #expect(polls <= 22, "\(polls) polls in 600 simulated seconds")

        let failures = lines.all.filter { $0.level == "warning" && $0.message.hasPrefix("Queue update") }
        #expect(failures.count <= 1 + 600 / 60, "\(failures.map(\.message))")
        #expect(failures.first?.message.contains("failed: ") == true)
        #expect(failures.first?.message.contains("database or disk is full") == true)
        #expect(failures.dropFirst().allSatisfy { $0.message.contains("times in the last") })
        let counted = failures.dropFirst().compactMap { Int($0.metadata["failures"] ?? "") }
        #expect(1 + counted.reduce(0, +) <= polls)
    }

    @Test("A lock refused because the container is no longer Queued re-reads it, so the scheduler stops asking")
    func refusedLockRereads() async throws {
        try await EmbeddedContainerAPI.with { api in
            let uuid = try await api.createContainer(command: ["true"], priority: 1).uuid
            let queue = ContainerQueueTests.queue(api)
            try await queue.update()
            #expect(await queue.entry(uuid)?.container.state == .queued)

            // Locked behind the queue's back (another dispatcher process, or a stale view of the store).
            _ = try await api.rootClient.lockContainer(uuid)
            await #expect(throws: ArvadosAPIError.self) { try await queue.lock(uuid) }
            #expect(await queue.entry(uuid)?.container.state == .locked)
            #expect(await queue.entry(uuid)?.container.lockCount == 1)
        }
    }
}
