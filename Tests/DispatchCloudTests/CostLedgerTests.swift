import DispatchCloud
import Foundation
import Testing

/// The cost accounting behind `dispatch-cloud costs`: lifetimes × price, shared by the containers on an instance,
/// overhead for instances running none, by UTC day.
@Suite("Cost ledger")
struct CostLedgerTests {
    static let t0: Int64 = 1_796_256_000  // 2026-12-03T00:00:00Z

    static func busy(_ type: String, _ price: Double, _ containers: [(String, String)]) -> CostLedger.Instance {
        CostLedger.Instance(
            instanceType: type,
            hourlyPrice: price,
            containers: containers.map { (uuid: $0.0, submitter: $0.1) }
        )
    }

    @Test(
        "UTC days",
        arguments: [
            (Int64(0), "1970-01-01"), (1_796_256_000, "2026-12-03"), (1_796_255_999, "2026-12-02"),
            (951_782_400, "2000-02-29"),
        ]
    )
    func days(seconds: Int64, expected: String) {
        #expect(CostLedger.day(seconds) == expected)
    }

    @Test("An hour of a busy and an idle instance: shares per container, the idle one is overhead")
    func chargesAndOverhead() {
        var ledger = CostLedger()
        let instances = [
            Self.busy("big", 1.0, [("c1", "alice"), ("c2", "bob")]),
            Self.busy("small", 0.5, []),
        ]
        ledger.charge(instances, until: Self.t0, maxGap: 120)  // starts the count
        for step in 1...360 { ledger.charge(instances, until: Self.t0 + Int64(step) * 10, maxGap: 120) }
        let byType = ledger.report(since: nil, by: .type)
        #expect(abs(byType.total - 1.5) < 1e-9)
        #expect(abs(byType.overhead - 0.5) < 1e-9)
        #expect(abs(byType.overheadShare - 1.0 / 3) < 1e-9)
        #expect(byType.rows.map(\.key) == ["big", "small"])
        let byContainer = ledger.report(since: nil, by: .container)
        #expect(byContainer.rows.map(\.key) == ["c1", "c2", "(overhead)"])
        #expect(abs(byContainer.rows[0].cost - 0.5) < 1e-9 && abs(byContainer.rows[0].instanceHours - 0.5) < 1e-9)
        let bySubmitter = ledger.report(since: nil, by: .submitter)
        #expect(bySubmitter.rows.map(\.key) == ["alice", "bob", "(overhead)"])
    }

    @Test("A gap longer than maxGap (the dispatcher was down) and a clock stepped back charge nothing")
    func gaps() {
        var ledger = CostLedger()
        let instances = [Self.busy("small", 3600, [])]  // $1 a second
        ledger.charge(instances, until: Self.t0, maxGap: 120)
        ledger.charge(instances, until: Self.t0 + 10, maxGap: 120)
        ledger.charge(instances, until: Self.t0 + 1000, maxGap: 120)
        ledger.charge(instances, until: Self.t0 + 500, maxGap: 120)
        ledger.charge(instances, until: Self.t0 + 1010, maxGap: 120)
        #expect(ledger.report(since: nil, by: .day).total == 20)
    }

    @Test("By day, oldest first; --since counts whole UTC days")
    func byDayAndSince() {
        var ledger = CostLedger()
        let instances = [Self.busy("small", 3600, [("c1", "")])]
        for day: Int64 in 0..<3 {
            let start = Self.t0 + day * 86400
            ledger.charge(instances, until: start, maxGap: 120)
            ledger.charge(instances, until: start + 10, maxGap: 120)
        }
        let all = ledger.report(since: nil, by: .day)
        #expect(all.rows.map(\.key) == ["2026-12-03", "2026-12-04", "2026-12-05"])
        #expect(all.rows.map(\.cost) == [10, 10, 10])
        let recent = ledger.report(since: Self.t0 + 86400 + 3600, by: .day)
        #expect(recent.since == "2026-12-04")
        #expect(recent.total == 20)
        #expect(ledger.report(since: nil, by: .submitter).rows.first?.key == "(unknown)")
    }

    @Test("The ledger's JSON form reads back the same")
    func codable() throws {
        var ledger = CostLedger()
        ledger.charge([Self.busy("small", 1, [("c1", "alice")])], until: Self.t0, maxGap: 120)
        ledger.charge([Self.busy("small", 1, [("c1", "alice")])], until: Self.t0 + 10, maxGap: 120)
        let data = try JSONEncoder().encode(ledger)
        #expect(try JSONDecoder().decode(CostLedger.self, from: data) == ledger)
    }
}
