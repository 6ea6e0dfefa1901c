import ArvadosAPI
import DispatchTestSupport
import Foundation
import Synchronization
import Testing

/// The dispatcher's API client is polite as Arvados's (`sdk/go/arvados/limiter.go`, `client.go`).
@Suite("Polite API client")
struct PoliteTransportTests {
    typealias Limiter = RequestLimiter<ManualClock.Instant>

    static func at(_ milliseconds: Int64) -> ManualClock.Instant { .init(offset: .milliseconds(milliseconds)) }

    @Test(
        "The limiter starts at 8, caps at MaxConcurrentRequests/4, halves on a 503 once per quiet second, grows by a tenth"
    )
    func limiterRules() {
        var limiter = Limiter(maxConcurrentRequests: 64)
        #expect(limiter.limit == 8 && limiter.maximumLimit == 16)
        for _ in 0..<8 {
            let admission = limiter.admit(at: Self.at(0))
            #expect(admission == .start)
        }
        let ninth = limiter.admit(at: Self.at(0))
        #expect(ninth == .waitForSlot)
        // Successes grow the limit by at least 1, to no more than twice the requests in flight and the cap.
        let grew = limiter.report(status: 200, at: Self.at(0))
        #expect(grew)
        #expect(limiter.limit == 9)
        for _ in 0..<20 { limiter.report(status: 200, at: Self.at(0)) }
        #expect(limiter.limit == 16)
        // A 503 halves it and starts a quiet second: nothing starts, and more 503s do not halve it again.
        limiter.report(status: 503, at: Self.at(10))
        #expect(limiter.limit == 8)
        let quiet = limiter.admit(at: Self.at(500))
        #expect(quiet == .waitUntil(Self.at(1010)))
        limiter.report(status: 503, at: Self.at(600))
        #expect(limiter.limit == 8)
        limiter.report(status: 503, at: Self.at(1010))
        #expect(limiter.limit == 4)
        for step in 0..<5 { limiter.report(status: 503, at: Self.at(5000 + 2000 * Int64(step))) }
        #expect(limiter.limit == 1, "never below 1")
        // Errors other than 503 change nothing.
        limiter.report(status: 500, at: Self.at(20_000))
        limiter.report(status: nil, at: Self.at(20_000))
        #expect(limiter.limit == 1)
        // With one request in flight, the limit grows to 2 at most.
        for _ in 0..<7 { limiter.finished() }
        #expect(limiter.inFlight == 1)
        limiter.report(status: 200, at: Self.at(20_000))
        limiter.report(status: 200, at: Self.at(20_000))
        #expect(limiter.limit == 2)
        // A small MaxConcurrentRequests caps the start too; below 4 there is no cap (a quarter is 0).
        #expect(Limiter(maxConcurrentRequests: 8).limit == 2)
        #expect(Limiter(maxConcurrentRequests: 3).maximumLimit == 0)
        #expect(Limiter(maxConcurrentRequests: 0).limit == 8)
    }

    @Test("Back-off: from the minimum, doubling with jitter, capped; Retry-After wins within the bounds")
    func backoff() {
        let backoff = PoliteTransport<ManualClock>.Backoff(minimum: .seconds(1), maximum: .seconds(6))
        #expect(backoff.delay(attempt: 1, jitter: 0, retryAfterSeconds: nil) == .seconds(1))
        #expect(backoff.delay(attempt: 1, jitter: 1, retryAfterSeconds: nil) == .seconds(2))
        #expect(backoff.delay(attempt: 2, jitter: 1, retryAfterSeconds: nil) == .seconds(4))
        #expect(backoff.delay(attempt: 40, jitter: 1, retryAfterSeconds: nil) == .seconds(6))
        #expect(backoff.delay(attempt: 1, jitter: 0, retryAfterSeconds: 3) == .seconds(3))
        #expect(backoff.delay(attempt: 1, jitter: 0, retryAfterSeconds: Int.max) == .seconds(6))
    }

    @Test("502, 503 and 504 are retried until an answer; other statuses and transport errors are not")
    func retries() async throws {
        let server = FakeAPIServer(serviceTime: .zero)
        let transport = PoliteTransport(
            base: server,
            maxConcurrentRequests: 64,
            clock: ContinuousClock(),
            quietPeriod: .milliseconds(1),
            backoff: .init(minimum: .milliseconds(1), maximum: .milliseconds(2))
        )
        server.script([502, 503, 504, 200])
        #expect(try await transport.send(Self.request()).status == 200)
        #expect(server.answered == 4)
        server.script([500, 200])
        #expect(try await transport.send(Self.request()).status == 500)
        server.script([404])
        #expect(try await transport.send(Self.request()).status == 404)
        #expect(await transport.statistics.retries == 3)
        // Past the deadline the last answer goes back.
        server.script(Array(repeating: 503, count: 10_000))
        var short = Self.request()
        short.timeout = .milliseconds(30)
        #expect(try await transport.send(short).status == 503)
        #expect(await transport.lastServiceUnavailable != nil)
    }

    @Test("A 503 storm: the client's concurrency falls to 1 and recovers to MaxConcurrentRequests/4 after")
    func storm() async throws {
        let server = FakeAPIServer(serviceTime: .milliseconds(2))
        let timeline = Shared<[(Duration, Int)]>([])
        let start = ContinuousClock.now
        let transport = PoliteTransport(
            base: server,
            maxConcurrentRequests: 64,
            clock: ContinuousClock(),
            quietPeriod: .milliseconds(20),
            backoff: .init(minimum: .milliseconds(2), maximum: .milliseconds(10)),
            onChange: { statistics in
                timeline.value.withLock { entries in
                    if entries.last?.1 != statistics.limit {
                        entries.append((ContinuousClock.now - start, statistics.limit))
                    }
                }
            }
        )
        let stop = Shared(false)
        let clients = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<64 {
                    group.addTask {
                        while !stop.value.withLock({ $0 }) {
                            var request = Self.request()
                            request.timeout = .milliseconds(100)
                            _ = try? await transport.send(request)
                        }
                    }
                }
            }
        }
        defer { stop.value.withLock { $0 = true } }

        // Calm: from 8 up to the cap, 64/4.
        let calm = await eventually(timeout: .seconds(120), interval: .milliseconds(5)) { () async -> Bool? in
            await transport.statistics.limit == 16 ? true : nil
        }
        #expect(calm == true)
        let calmPeak = server.resetPeak()
        // Storm: every answer a 503.
        server.storming(true)
        let fell = await eventually(timeout: .seconds(120), interval: .milliseconds(5)) { () async -> Bool? in
            let statistics = await transport.statistics
            return statistics.limit == 1 && statistics.inFlight <= 1 ? true : nil
        }
        let afterFall = await transport.statistics
        #expect(fell == true, "\(afterFall)")
        _ = server.resetPeak()
        let stormAnswers = server.answered
        // Once it has fallen, the server sees at most one request at a time.
        let quietWhile = await eventually(timeout: .seconds(120), interval: .milliseconds(5)) { () -> Int? in
            server.answered >= stormAnswers + 20 ? server.resetPeak() : nil
        }
        #expect(quietWhile == 1, "peak concurrency during the storm: \(quietWhile ?? -1)")
        // After: back to the cap.
        server.storming(false)
        let recovered = await eventually(timeout: .seconds(120), interval: .milliseconds(5)) { () async -> Bool? in
            await transport.statistics.limit == 16 ? true : nil
        }
        let afterRecovery = await transport.statistics
        #expect(recovered == true, "\(afterRecovery)")
        let recoveredPeak = server.resetPeak()
        stop.value.withLock { $0 = true }
        await clients.value
        let statistics = await transport.statistics
        let points = timeline.value.withLock { $0 }
        print(
            """
            503 storm, 64 callers, MaxConcurrentRequests 64 (cap 16):
              peak server concurrency: calm \(calmPeak), storm (after the fall) \(quietWhile ?? -1), recovered \(recoveredPeak)
              503s \(statistics.serviceUnavailable), retries \(statistics.retries), answers \(server.answered)
              limit over time (ms:limit): \(points.map { "\($0.0.milliseconds):\($0.1)" }.joined(separator: " "))
            """
        )
        #expect(calmPeak <= 16 && recoveredPeak <= 16)
        #expect(calmPeak > 1 && recoveredPeak > 1)
    }

    static func request() -> ArvadosHTTPRequest {
        ArvadosHTTPRequest(
            method: "GET",
            url: URL(string: "http://127.0.0.1:1/arvados/v1/containers")!,
            headers: [],
            body: nil,
            // Generous: in the full suite other tests may hold the cooperative pool for seconds.
            timeout: .seconds(300)
        )
    }
}

/// An API server in memory: answers 200 (or a scripted status, or 503 in a storm) after `serviceTime`, and
/// counts the requests it serves at once.
final class FakeAPIServer: ArvadosTransport, Sendable {
    private struct State {
        var script: [Int] = []
        var storm = false
        var inFlight = 0
        var peak = 0
        var answered = 0
    }

    private let state = Mutex(State())
    private let serviceTime: Duration

    init(serviceTime: Duration) { self.serviceTime = serviceTime }

    func script(_ statuses: [Int]) {
        self.state.withLock {
            $0.script = statuses
            $0.answered = 0
        }
    }
    func storming(_ on: Bool) { self.state.withLock { $0.storm = on } }
    var answered: Int { self.state.withLock { $0.answered } }

    /// The peak concurrency since the last reset.
    func resetPeak() -> Int {
        self.state.withLock { state in
            defer { state.peak = state.inFlight }
            return state.peak
        }
    }

    func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
        self.state.withLock { state in
            state.inFlight += 1
            state.peak = max(state.peak, state.inFlight)
        }
        if self.serviceTime > .zero { try? await Task.sleep(for: self.serviceTime) }
        let status = self.state.withLock { state -> Int in
            state.inFlight -= 1
            state.answered += 1
            if !state.script.isEmpty { return state.script.removeFirst() }
            return state.storm ? 503 : 200
        }
        return ArvadosHTTPResponse(status: status, body: Array("{}".utf8))
    }
}

/// A lock-protected value closures can share.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ initial: Value) { self.value = Mutex(initial) }
}

extension Duration {
    fileprivate var milliseconds: Int64 {
        self.components.seconds * 1000 + self.components.attoseconds / 1_000_000_000_000_000
    }
}
