import DispatchModel
import DispatchTestSupport
import Testing

/// The backoff and the log throttle the scheduling loop and the queue use for failing calls.
@Suite("Retry backoff")
struct RetryBackoffTests {
    @Test(
        "Delays double from the initial one up to the cap, scaled by jitter clamped to 0.5...1",
        arguments: [
            (1, 1.0, Duration.seconds(1)),
            (2, 1.0, .seconds(2)),
            (5, 1.0, .seconds(16)),
            (6, 1.0, .seconds(30)),
            (1_000, 1.0, .seconds(30)),
            (3, 0.5, .seconds(2)),
            (3, 0.0, .seconds(2)),
            (3, 7.0, .seconds(4)),
            (3, .nan, .seconds(4)),
        ]
    )
    func delays(failures: Int, jitter: Double, expected: Duration) {
        var backoff = RetryBackoff(initial: .seconds(1), maximum: .seconds(30))
        var delay = Duration.zero
        for _ in 0..<failures { delay = backoff.failed(jitter: jitter) }
        #expect(delay == expected)
        #expect(backoff.failures == failures)
        backoff.succeeded()
        #expect(backoff.failed(jitter: 1) == .seconds(1))
    }

    @Test("A failing call is logged at once, then once per interval with the count, and once more on success")
    func throttle() {
        let clock = ManualClock()
        var log = RepeatedFailureLog<ManualClock.Instant>(interval: .seconds(60))
        #expect(log.failed("full", at: clock.now)?.description == "failed: full")
        var lines = 0
        for _ in 0..<599 {
            clock.advance(by: .milliseconds(100))
            if log.failed("still full", at: clock.now) != nil { lines += 1 }
        }
        #expect(lines == 0, "nothing before the interval has passed")
        clock.advance(by: .seconds(1))
        let line = log.failed("still full", at: clock.now)
        #expect(line?.description == "failed 600 times in the last 60 s: still full")
        clock.advance(by: .seconds(1))
        _ = log.failed("last", at: clock.now)
        #expect(log.unlogged == 1)
        #expect(log.succeeded(at: clock.now)?.count == 1)
        #expect(log.succeeded(at: clock.now) == nil)
        #expect(log.failed("again", at: clock.now)?.description == "failed: again")
    }
}
