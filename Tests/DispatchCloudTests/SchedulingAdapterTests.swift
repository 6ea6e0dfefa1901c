import ArvadosAPI
import ContainerQueue
import DispatchModel
import Foundation
import Logging
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
