import DispatchModel
import Foundation
import Scheduler
import Testing

/// `DispatchCloud.MaxSpendPerDay`: the ledger of money spent per minute over a rolling 24 hours, and the planner's
/// rule that no instance starts when the budget left cannot pay for the instances and the new one for an hour.
@Suite("Daily spend")
struct SpendLedgerTests {
    /// A minute boundary.
    static let t0: Int64 = 1_800_000_000 - 1_800_000_000 % 60

    @Test("Time is charged second by second into minute buckets, at the hourly price")
    func chargesBySecond() {
        var ledger = SpendLedger()
        #expect(ledger.account(hourlySpend: 3.6, until: Self.t0 + 30, maxGap: 120) == 0)
        #expect(ledger.account(hourlySpend: 3.6, until: Self.t0 + 120, maxGap: 120) == 90)
        // $3.60 an hour is $0.001 a second: 30 s in the first minute, 60 in the second.
        #expect(abs(ledger.minutes[Self.t0, default: 0] - 0.03) < 1e-12)
        #expect(abs(ledger.minutes[Self.t0 + 60, default: 0] - 0.06) < 1e-12)
        #expect(abs(ledger.spent(at: Self.t0 + 120) - 0.09) < 1e-12)
    }

    @Test("A gap longer than the limit (the dispatcher was down) and a clock stepped back charge nothing")
    func gapsAndStepsBack() {
        var ledger = SpendLedger()
        ledger.account(hourlySpend: 10, until: Self.t0, maxGap: 120)
        #expect(ledger.account(hourlySpend: 10, until: Self.t0 + 3600, maxGap: 120) == 0)
        #expect(ledger.spent(at: Self.t0 + 3600) == 0)
        #expect(ledger.account(hourlySpend: 10, until: Self.t0 + 3000, maxGap: 120) == 0)
        #expect(ledger.accountedUntil == Self.t0 + 3600)
        #expect(ledger.account(hourlySpend: 10, until: Self.t0 + 3660, maxGap: 120) == 60)
    }

    @Test("Money leaves the window 24 hours after it was spent, and freed(within:) sees it coming")
    func windowRolls() {
        var ledger = SpendLedger()
        ledger.account(hourlySpend: 6, until: Self.t0, maxGap: 120)
        for minute in 1...60 { ledger.account(hourlySpend: 6, until: Self.t0 + Int64(minute) * 60, maxGap: 120) }
        #expect(abs(ledger.spent(at: Self.t0 + 3600) - 6) < 1e-9)
        let almostADayLater = Self.t0 + SpendLedger.window
        #expect(abs(ledger.spent(at: almostADayLater) - 6) < 1e-9)
        #expect(abs(ledger.freed(at: almostADayLater, within: 3600) - 6) < 1e-9)
        #expect(abs(ledger.freed(at: almostADayLater, within: 1800) - 3) < 1e-9)
        #expect(abs(ledger.spent(at: almostADayLater + 1800) - 3) < 1e-9)
        #expect(ledger.spent(at: almostADayLater + 3600) == 0)
    }

    @Test("The ledger's JSON round-trips, and decoding refuses what no ledger writes")
    func codable() throws {
        var ledger = SpendLedger()
        ledger.account(hourlySpend: 1, until: Self.t0, maxGap: 120)
        ledger.account(hourlySpend: 1, until: Self.t0 + 100, maxGap: 120)
        let data = try JSONEncoder().encode(ledger)
        #expect(try JSONDecoder().decode(SpendLedger.self, from: data) == ledger)
        for hostile in [
            #"{"minutes":{"61":1}}"#, #"{"minutes":{"60":-1}}"#, #"{"minutes":{"x":1}}"#,
            #"{"minutes":{"9223372036854775800":1}}"#, #"{"minutes":{},"accountedUntil":9223372036854775807}"#,
        ] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(SpendLedger.self, from: Data(hostile.utf8)) }
        }
    }

    /// A pool with no instance, and a Locked container that needs a type4 (0.492 an hour).
    static func harness(cap: Double, daily: DailySpend) -> Harness {
        var configuration = SchedulingPlanner.Configuration.suite
        configuration.maxSpendPerDay = cap
        var harness = Harness(
            queue: StubQueue([container(1, priority: 1, state: .locked, vcpus: 4, ram: 1 << 30)], chooser: .suite()),
            pool: StubPool(quota: 10, canCreate: 10),
            configuration: configuration
        )
        harness.pool.dailySpend = daily
        return harness
    }

    @Test("No instance starts when the budget left cannot pay for it for an hour, counting money the window frees")
    func plannerRule() {
        // $10 a day, $9.60 spent: a type4 for an hour ($0.492) would go 9 cents over.
        var capped = Self.harness(cap: 10, daily: DailySpend(spent: 9.6, freedNextHour: 0))
        let plan = capped.runPass()
        #expect(capped.pool.creates.isEmpty)
        #expect(
            capped.status(of: containerUUID(1)) == "waiting: daily spend cap of $10.00 reached (position 1 in queue)"
        )
        #expect(plan.metrics.containersWaitingOnSpendCap == 1)
        #expect(plan.metrics.spendInWindow == 9.6)
        #expect(plan.metrics.maxSpendPerDay == 10)
        // The same, with 10 cents leaving the window within the hour: it fits.
        var freed = Self.harness(cap: 10, daily: DailySpend(spent: 9.6, freedNextHour: 0.1))
        freed.runPass()
        #expect(freed.pool.creates.count == 1)
        // Without a daily cap, the spend does not matter.
        var uncapped = Self.harness(cap: 0, daily: DailySpend(spent: 1e6, freedNextHour: 0))
        uncapped.runPass()
        #expect(uncapped.pool.creates.count == 1)
    }
}
