import DispatchTestSupport
import Testing

@Suite("Manual clock")
struct ManualClockTests {
    @Test("A sleep ends when the clock is advanced to its deadline, not before")
    func sleepEndsAtDeadline() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(10)) }
        await clock.waitForSleepers(1)
        #expect(clock.sleeperDeadlines == [ManualClock.Instant(offset: .seconds(10))])
        clock.advance(by: .seconds(9))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        try await sleeper.value
        #expect(clock.sleeperCount == 0)
        #expect(clock.now.offset == .seconds(10))
    }

    @Test("A sleep whose deadline has passed returns at once without registering")
    func pastDeadline() async throws {
        let clock = ManualClock()
        clock.advance(by: .seconds(5))
        try await clock.sleep(until: ManualClock.Instant(offset: .seconds(5)))
        #expect(clock.totalSleeps == 0)
    }

    @Test("Cancelling a sleeping task ends its sleep with CancellationError")
    func cancelWhileAsleep() async {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
        await clock.waitForSleepers(1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test("A task cancelled before it sleeps does not sleep")
    func cancelBeforeSleeping() async {
        let clock = ManualClock()
        let sleeper = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(for: .seconds(60))
        }
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test("Sleepers wake in deadline order and waitForSleepers counts them")
    func wakeOrder() async throws {
        let clock = ManualClock()
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let tasks = [30, 10, 20].map { seconds in
            Task {
                try await clock.sleep(for: .seconds(seconds))
                continuation.yield(seconds)
            }
        }
        await clock.waitForSleepers(3)
        clock.advance(by: .seconds(15))
        var woken = stream.makeAsyncIterator()
        #expect(await woken.next() == 10)
        clock.advance(by: .seconds(100))
        let rest = [await woken.next(), await woken.next()].compactMap { $0 }
        #expect(Set(rest) == [20, 30])
        for task in tasks { try await task.value }
    }
}
