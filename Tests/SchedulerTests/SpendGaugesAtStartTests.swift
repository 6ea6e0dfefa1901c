import DispatchModel
import DispatchTestSupport
import Scheduler
import Synchronization
import Testing

/// After a restart the scheduler's first pass can wait up to `StaleLockTimeout` for unknown workers to be probed;
/// the spend it restored is on the gauges during that wait, not only after the pass.
@Suite("Spend gauges at start")
struct SpendGaugesAtStartTests {
    /// A pool after a restart: one unknown worker, never probed, and a restored day of spend.
    final class UnprobedPool: InertSchedulingPool {
        private let stream = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

        func schedulingSnapshot() async -> PoolSnapshot {
            var pool = StubPool(quota: 100)
            pool.workers = [.init(id: "i-1", type: instanceType(1), state: .unknown, running: [])]
            var snapshot = pool.snapshot
            snapshot.dailySpend = DailySpend(spent: 1.25, freedNextHour: 0)
            return snapshot
        }
        func changes() async -> AsyncStream<Void> { self.stream.stream }
    }

    @Test("The restored spend and the caps are on the gauges while the first pass waits for stale locks")
    func spendBeforeFirstPass() async throws {
        let queue = NeverTwiceTests.RestartQueue()
        let clock = ManualClock()
        let metrics = InMemoryMetricsFactory()
        var configuration = SchedulingLoop<ManualClock>.Configuration()
        configuration.staleLockTimeout = .seconds(60)
        configuration.planner.maxSpendPerDay = 5
        configuration.planner.maxHourlySpend = 0.5
        let loop = SchedulingLoop(
            queue: queue,
            pool: UnprobedPool(),
            clock: clock,
            wallClock: { testNow },
            configuration: configuration,
            logger: LogLines().logger(),
            metricsFactory: metrics
        )
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await loop.run() }
            // A container a previous process left Locked: the unknown worker may be running it.
            let locked = StubQueue(
                [container(1, priority: 1, state: .locked, vcpus: 1, ram: 1 << 30)],
                chooser: .suite()
            )
            queue.load(Array(locked.snapshot.entries))
            await NeverTwiceTests.advance(clock, seconds: 5)
            #expect(await loop.passCount() == 0, "the unknown worker holds the first pass")
            #expect(metrics.lastRecordedValue("arvados_dispatchcloud_spend_in_window") == 1.25)
            #expect(metrics.lastRecordedValue("arvados_dispatchcloud_max_spend_per_day") == 5)
            #expect(metrics.lastRecordedValue("arvados_dispatchcloud_max_hourly_spend") == 0.5)
            group.cancelAll()
            try? await group.waitForAll()
        }
    }
}
