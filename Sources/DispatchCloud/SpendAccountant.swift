import Foundation
import Logging
import Scheduler
import ServiceLifecycle

/// Keeps the ``SpendLedger`` for `DispatchCloud.MaxSpendPerDay` in the data directory, so a restart does not reset
/// the daily budget.
///
/// The file (`spend-ledger.json`) holds money per minute for the last 24 hours; it is replaced atomically (a
/// temporary file renamed over it) at every ``account(hourlySpend:at:)``. It holds no secret.
actor SpendAccountant {
    static let fileName = "spend-ledger.json"
    /// The longest time between two charges still charged: a longer gap means the dispatcher was down.
    static let maxGap: Int64 = 120

    let url: URL
    let logger: Logger
    private(set) var ledger: SpendLedger

    /// Loads the ledger from `directory`, or starts an empty one when there is none or it cannot be read (logged).
    init(directory: String, logger: Logger) {
        self.url = URL(fileURLWithPath: directory).appendingPathComponent(Self.fileName)
        self.logger = logger
        self.ledger = SpendLedger()
        do {
            let data = try Data(contentsOf: self.url)
            self.ledger = try JSONDecoder().decode(SpendLedger.self, from: data)
        } catch CocoaError.fileReadNoSuchFile {
            // First start with a daily cap.
        } catch {
            logger.warning(
                "The spend ledger could not be read; the daily spend starts from zero",
                metadata: ["file": "\(self.url.path)", "error": "\(FileProblem.text(error))"]
            )
        }
    }

    /// Charges the instances' summed hourly price since the last call, up to `now` (Unix seconds), and saves the
    /// ledger.
    func account(hourlySpend: Double, at now: Int64) {
        self.ledger.account(hourlySpend: hourlySpend, until: now, maxGap: Self.maxGap)
        do {
            let data = try JSONEncoder().encode(self.ledger)
            try data.write(to: self.url, options: .atomic)
        } catch {
            self.logger.warning(
                "The spend ledger could not be saved",
                metadata: ["file": "\(self.url.path)", "error": "\(FileProblem.text(error))"]
            )
        }
    }

    /// The daily budget as the planner needs it, at `now` (Unix seconds).
    func dailySpend(at now: Int64) -> DailySpend {
        DailySpend(self.ledger, now: now)
    }
}

/// Charges the pool's instances to the ``SpendAccountant`` every few seconds, and once more at shutdown.
struct SpendAccounting: Service {
    let accountant: SpendAccountant
    let hourlySpend: @Sendable () async -> Double
    var interval: Duration = .seconds(10)

    static func wallSeconds() -> Int64 { Int64(Date().timeIntervalSince1970.rounded(.down)) }

    func run() async throws {
        await self.accountant.account(hourlySpend: await self.hourlySpend(), at: Self.wallSeconds())
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                await self.accountant.account(hourlySpend: await self.hourlySpend(), at: Self.wallSeconds())
            }
        }
    }
}
