public import DispatchModel
import Foundation
public import Logging
public import ServiceLifecycle

/// The service that writes the journal's batches to its store, every `interval`, and prunes events older than
/// the retention once an hour; on graceful shutdown it writes what is left.
public struct JournalWriter<C: Clock>: Service where C.Duration == Duration {
    public let journal: DecisionJournal
    public let store: JournalStore
    public let retention: Duration
    public let interval: Duration
    let clock: C
    let wallClock: @Sendable () -> Timestamp
    let logger: Logger

    public init(
        journal: DecisionJournal,
        store: JournalStore,
        retention: Duration,
        interval: Duration = .seconds(1),
        clock: C,
        wallClock: @escaping @Sendable () -> Timestamp = Timestamp.now,
        logger: Logger
    ) {
        self.journal = journal
        self.store = store
        self.retention = retention
        self.interval = interval
        self.clock = clock
        self.wallClock = wallClock
        self.logger = logger
    }

    public func run() async throws {
        self.prune()
        var lastPrune = self.clock.now
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let clock = self.clock
            let interval = self.interval
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: interval) }
            self.flush()
            if lastPrune.duration(to: self.clock.now) >= .seconds(3600) {
                self.prune()
                lastPrune = self.clock.now
            }
        }
        self.flush()
    }

    /// Writes the waiting events now.
    public func flush() {
        let events = self.journal.takePending()
        guard !events.isEmpty else { return }
        do {
            try self.store.append(events)
        } catch {
            self.journal.returnPending(events)
            self.logger.warning("Decision journal not written", metadata: ["error": "\(error)"])
        }
    }

    private func prune() {
        let (seconds, _) = self.retention.components
        let cutoff = Timestamp(self.wallClock().date.addingTimeInterval(-Double(seconds)))
        do {
            let removed = try self.store.prune(before: cutoff)
            if removed > 0 {
                self.logger.info("Decision journal pruned", metadata: ["journal.removed": "\(removed)"])
            }
        } catch {
            self.logger.warning("Decision journal not pruned", metadata: ["error": "\(error)"])
        }
    }
}
