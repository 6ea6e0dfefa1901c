public import DispatchModel
import Foundation
import GRDB

/// The decision journal on disk: its own SQLite file (`journal.sqlite`) in the data directory, apart from
/// the embedded API's database, so neither one's writes wait for the other's.
public final class JournalStore: Sendable {
    /// The file name in the data directory.
    public static let fileName = "journal.sqlite"

    private let queue: DatabaseQueue

    /// Opens (creating if needed) the journal in `dataDirectory`.
    public init(dataDirectory: String) throws(JournalError) {
        let path = (dataDirectory as NSString).appendingPathComponent(Self.fileName)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            // A lost last batch after a power cut is acceptable for a journal; a slow commit is not.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            self.queue = try DatabaseQueue(path: path, configuration: configuration)
            try self.queue.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS journal (
                            sequence INTEGER PRIMARY KEY,
                            time REAL NOT NULL,
                            container TEXT,
                            instance TEXT,
                            kind TEXT NOT NULL,
                            event BLOB NOT NULL
                        );
                        CREATE INDEX IF NOT EXISTS journal_container ON journal(container) WHERE container IS NOT NULL;
                        CREATE INDEX IF NOT EXISTS journal_instance ON journal(instance) WHERE instance IS NOT NULL;
                        CREATE INDEX IF NOT EXISTS journal_time ON journal(time);
                        """
                )
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        } catch {
            throw JournalError(.unavailable, "cannot open the decision journal \(path)", cause: error)
        }
    }

    /// The highest sequence number stored; 0 when empty.
    public func lastSequence() throws(JournalError) -> Int64 {
        do {
            return try self.queue.read { db in
                try Int64.fetchOne(db, sql: "SELECT MAX(sequence) FROM journal") ?? 0
            }
        } catch {
            throw JournalError(.unavailable, "cannot read the decision journal", cause: error)
        }
    }

    /// Appends events in one transaction (an event already stored is ignored).
    public func append(_ events: [JournalEvent]) throws(JournalError) {
        guard !events.isEmpty else { return }
        let encoder = JSONEncoder()
        do {
            try self.queue.write { db in
                let statement = try db.cachedStatement(
                    sql: """
                        INSERT OR IGNORE INTO journal (sequence, time, container, instance, kind, event)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """
                )
                for event in events {
                    let body = try encoder.encode(event)
                    try statement.execute(arguments: [
                        event.sequence, event.time.date.timeIntervalSince1970, event.container?.rawValue,
                        event.instance?.rawValue, event.kind.rawValue, body,
                    ])
                }
            }
        } catch {
            throw JournalError(.unavailable, "cannot write the decision journal", cause: error)
        }
    }

    /// The stored events about `subject`, oldest first, at most `limit` (the newest ones).
    public func events(about subject: JournalSubject, limit: Int = 1000) throws(JournalError) -> [JournalEvent] {
        let (column, value) =
            switch subject {
            case .container(let uuid): ("container", uuid.rawValue)
            case .instance(let id): ("instance", id.rawValue)
            }
        let decoder = JSONDecoder()
        do {
            let blobs = try self.queue.read { db in
                try Data.fetchAll(
                    db,
                    sql: "SELECT event FROM journal WHERE \(column) = ? ORDER BY sequence DESC LIMIT ?",
                    arguments: [value, max(1, limit)]
                )
            }
            return try blobs.reversed().map { try decoder.decode(JournalEvent.self, from: $0) }
        } catch {
            throw JournalError(.unavailable, "cannot read the decision journal", cause: error)
        }
    }

    /// Deletes the events older than `cutoff`; returns how many.
    @discardableResult
    public func prune(before cutoff: Timestamp) throws(JournalError) -> Int {
        do {
            return try self.queue.write { db in
                try db.execute(
                    sql: "DELETE FROM journal WHERE time < ?",
                    arguments: [cutoff.date.timeIntervalSince1970]
                )
                return db.changesCount
            }
        } catch {
            throw JournalError(.unavailable, "cannot prune the decision journal", cause: error)
        }
    }
}

/// A decision-journal failure: a code, a message for people, and the cause.
public struct JournalError: Error, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The journal file cannot be opened, read or written.
        public static let unavailable = Code(rawValue: "unavailable")
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        self.cause.map { "\(self.message): \($0)" } ?? self.message
    }
}
