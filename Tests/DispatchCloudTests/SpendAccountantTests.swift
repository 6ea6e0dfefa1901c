import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import Scheduler
import Synchronization
import Testing

@testable import DispatchCloud

/// The daily spend is kept in the data directory: a restart (a new accountant on the same directory) keeps it.
@Suite("Spend accountant")
struct SpendAccountantTests {
    static let t0: Int64 = 1_800_000_000 - 1_800_000_000 % 60

    @Test("The daily spend survives a restart, and the file is replaced whole")
    func survivesRestart() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let logger = Logger(label: "test")
        let first = SpendAccountant(directory: directory.path, logger: logger)
        await first.account(hourlySpend: 3.6, at: Self.t0)
        for step in 1...30 { await first.account(hourlySpend: 3.6, at: Self.t0 + Int64(step) * 10) }
        let before = await first.dailySpend(at: Self.t0 + 300)
        #expect(abs(before.spent - 0.3) < 1e-9)

        // Restarted five minutes later: the money is still spent; the time the dispatcher was down is not charged.
        let second = SpendAccountant(directory: directory.path, logger: logger)
        #expect(await second.dailySpend(at: Self.t0 + 600) == before)
        await second.account(hourlySpend: 3.6, at: Self.t0 + 600)
        await second.account(hourlySpend: 3.6, at: Self.t0 + 610)
        #expect(abs(await second.dailySpend(at: Self.t0 + 610).spent - 0.31) < 1e-9)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(names == [SpendAccountant.fileName], "\(names)")
    }

    @Test("A damaged ledger file starts the count from zero instead of stopping the dispatcher")
    func damagedFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/" + SpendAccountant.fileName
        try Data(#"{"minutes":{"60":-5}}"#.utf8).write(to: URL(fileURLWithPath: path))
        let accountant = SpendAccountant(directory: directory.path, logger: Logger(label: "test"))
        #expect(await accountant.dailySpend(at: Self.t0).spent == 0)
    }
}

/// The preemption counts are kept in the data directory: what one process saved, the next restores.
@Suite("Preemption record")
struct PreemptionRecordTests {
    @Test("Saved counts load back; no file is no counts; a damaged file is an error, not a crash")
    func roundTrip() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let record = PreemptionRecord(directory: directory.path)
        #expect(try record.load().isEmpty)
        let counts = [ContainerUUID(rawValue: "zzzzz-dz642-000000000000001"): 2]
        try record.save(counts)
        #expect(try PreemptionRecord(directory: directory.path).load() == counts)
        try Data("{\"a\":".utf8).write(to: record.url)
        #expect(throws: (any Error).self) { try record.load() }
    }

    @Test("The service restores the counts at start and saves a change at shutdown")
    func serviceRestoresAndSaves() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let record = PreemptionRecord(directory: directory.path)
        let first = ContainerUUID(rawValue: "zzzzz-dz642-000000000000001")
        let second = ContainerUUID(rawValue: "zzzzz-dz642-000000000000002")
        try record.save([first: 1])
        let pool = Mutex<[ContainerUUID: Int]>([:])
        let service = PreemptionPersistence(
            record: record,
            logger: Logger(label: "test"),
            restore: { restored in pool.withLock { $0.merge(restored, uniquingKeysWith: +) } },
            counts: { pool.withLock { $0 } },
            interval: .seconds(3600)
        )
        let task = Task { try await service.run() }
        #expect(await eventually { pool.withLock { $0 } == [first: 1] ? true : nil } == true)
        pool.withLock { $0[second, default: 0] += 1 }
        task.cancel()
        try await task.value
        #expect(try record.load() == [first: 1, second: 1])
    }
}
