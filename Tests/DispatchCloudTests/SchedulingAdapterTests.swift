import ArvadosAPI
import ContainerQueue
import DispatchModel
import Foundation
import Logging
import Scheduler
import Synchronization
import Testing

@testable import DispatchCloud

/// The adapters between the queue and pool actors and the scheduling loop.
@Suite("Scheduling adapters")
struct SchedulingAdapterTests {
    /// An API that answers every request 503.
    struct UnavailableTransport: ArvadosTransport {
        func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
            ArvadosHTTPResponse(status: 503, body: Array(#"{"errors":["Service Unavailable"]}"#.utf8))
        }
    }

    /// An API with no containers for this dispatcher.
    struct EmptyTransport: ArvadosTransport {
        func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
            let body = #"{"uuid":"zzzzz-gj3su-000000000000000","items":[],"items_available":0}"#
            return ArvadosHTTPResponse(status: 200, body: Array(body.utf8))
        }
    }

    /// A wall clock a test sets.
    final class WallClock: Sendable {
        let now = Mutex(Timestamp(secondsSince1970: 1_900_000_000, nanoseconds: 123_456_789))
        func read() -> Timestamp { self.now.withLock { $0 } }
    }

    @Test(
        "The queue's last update reaches the planner as the wall-clock time read when it began, whatever the clock does after"
    )
    func updatedAtIsRecorded() async throws {
        let wall = WallClock()
        let began = wall.read()
        let queue = ContainerQueue(
            client: ArvadosClient(baseURL: URL(string: "http://127.0.0.1:9")!, token: "t", transport: EmptyTransport()),
            chooser: InstanceTypeChooser(
                types: [],
                maximumPriceFactor: 0,
                reserveExtraRAM: .zero,
                localKeepBlobBuffersPerVCPU: 0
            ),
            clock: ContinuousClock(),
            wallClock: { wall.read() },
            logger: Logger(label: "adapter-test")
        )
        try await queue.update()
        let adapter = QueueForScheduling(queue: queue)
        #expect(await adapter.schedulingSnapshot().updatedAt == began)
        // The wall clock steps back an hour (NTP, an operator): the update still began when it began. Converting
        // the queue's monotonic instant at each pass moved it with the step.
        wall.now.withLock { $0 = $0.advanced(by: .seconds(-3600)) }
        #expect(await adapter.schedulingSnapshot().updatedAt == began)
    }

    @Test("The last 503 reaches the planner as the wall-clock time read when it came, the same at every pass")
    func last503IsStable() async throws {
        let at = Timestamp(secondsSince1970: 1_900_000_000, nanoseconds: 123_456_789)
        let queue = ContainerQueue(
            client: ArvadosClient(
                baseURL: URL(string: "http://127.0.0.1:9")!,
                token: "t",
                transport: UnavailableTransport()
            ),
            chooser: InstanceTypeChooser(
                types: [],
                maximumPriceFactor: 0,
                reserveExtraRAM: .zero,
                localKeepBlobBuffersPerVCPU: 0
            ),
            clock: ContinuousClock(),
            wallClock: { at },
            logger: Logger(label: "adapter-test")
        )
        await #expect(throws: ArvadosAPIError.self) { try await queue.update() }
        let adapter = QueueForScheduling(queue: queue)
        // Converting the monotonic instant again at each pass made clock jitter look like a new 503, which
        // lowered the container limit again.
        for _ in 0..<100 {
            #expect(await adapter.last503() == at)
        }
    }
}
