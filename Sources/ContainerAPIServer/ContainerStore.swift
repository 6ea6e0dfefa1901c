import Crypto
public import DispatchModel
public import Foundation
import GRDB
import Synchronization

/// The durable home of containers and logs: one SQLite database in WAL mode under the data directory.
///
/// Every change is one transaction that reads the current row, applies ``ContainerRules`` and writes the result,
/// so concurrent requests serialize on SQLite's single writer and a committed change survives a crash of the
/// process. The caller passed to each method decides what it may see and change.
public final class ContainerStore: Sendable {
    /// The database file, `<dataDirectory>/containers.sqlite`.
    public let databasePath: String
    let clusterID: ClusterID
    private let pool: DatabasePool
    private let now: @Sendable () -> Date
    /// The instance types the dispatcher behind this API can start; a container none of them can run is refused
    /// at create. `nil` admits every container whose sizes are sane (an API with no dispatcher of its own).
    let admission: InstanceTypeChooser?
    /// Every committed container change, in commit order, for subscribers in this process.
    public let changes = ChangeFeed()
    /// Containers as last committed by this store, decoded: a change reads the row it rewrites, and decoding
    /// its JSON was the largest part of a change's cost.
    private let recent = RecentContainers()
    /// Test seam: runs inside every write transaction after its changes, just before COMMIT.
    let beforeCommitForTesting = Mutex<(@Sendable (Database) throws -> Void)?>(nil)

    /// Opens (creating if needed) the database under `dataDirectory` and brings its schema up to date.
    ///
    /// The directory is created with mode 0700 and the database file with mode 0600; SQLite gives its WAL and
    /// shared-memory files the database file's mode.
    public init(
        dataDirectory: String,
        clusterID: ClusterID,
        admission: InstanceTypeChooser? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws(ContainerAPIError) {
        self.admission = admission
        let path = URL(fileURLWithPath: dataDirectory).appendingPathComponent("containers.sqlite").path
        self.databasePath = path
        self.clusterID = clusterID
        self.now = now
        let files = FileManager.default
        do {
            if !files.fileExists(atPath: dataDirectory) {
                try files.createDirectory(
                    atPath: dataDirectory,
                    withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700]
                )
            }
            if !files.fileExists(atPath: path) {
                guard files.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                    throw ContainerAPIError(.internal, "Cannot create the database file \(path)")
                }
            }
            try files.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        } catch let error as ContainerAPIError {
            throw error
        } catch {
            throw ContainerAPIError(.internal, "Cannot prepare the data directory \(dataDirectory)", cause: error)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // WAL plus FULL: a transaction is on disk when its commit returns.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            self.pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(self.pool)
        } catch {
            throw ContainerAPIError(.internal, "Cannot open the database \(path)", cause: error)
        }
    }

    /// Test seam: runs `body` on the writer's connection outside any transaction (pragmas such as
    /// `max_page_count`, scratch tables), serialized with every write.
    func withWriterForTesting<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        try await self.pool.writeWithoutTransaction(body)
    }

    /// The SQLite journal mode in force; `wal` once opened.
    public func journalMode() async throws -> String {
        try await self.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    // MARK: Containers

    /// Creates a Queued container from the attributes of a create request; the caller owns it.
    public func createContainer(
        attributes: [String: JSONValue],
        by caller: Caller
    ) async throws(ContainerAPIError) -> Container {
        try await self.createStoredContainer(attributes: attributes, by: caller).container
    }

    /// Creates a Queued container, returning it with its stored JSON.
    func createStoredContainer(
        attributes: [String: JSONValue],
        by caller: Caller
    ) async throws(ContainerAPIError) -> StoredContainer {
        let uuid = ContainerUUID(rawValue: Self.newUUID(cluster: self.clusterID, infix: ContainerUUID.typeInfix))
        let container = try ContainerRules.makeContainer(
            attributes: attributes,
            uuid: uuid,
            caller: caller,
            now: self.timestamp()
        )
        try self.admit(container)
        let stored = try Self.stored(container, newEtag: true)
        return try await self.write { db in
            try Self.insert(stored, into: db)
            return (stored, [stored])
        }
    }

    /// Refuses, with 422 and the reason, a container that no instance type of ``admission`` can run.
    func admit(_ container: Container) throws(ContainerAPIError) {
        guard let admission = self.admission else { return }
        do throws(InstanceTypeChoiceError) {
            _ = try admission.eligibleTypes(for: container)
        } catch {
            throw ContainerAPIError(.unprocessable, ContainerRules.unsatisfiable(container, error, by: admission))
        }
    }

    /// Creates Queued containers from the attributes of several create requests in one transaction: all of them,
    /// or none if any is refused.
    ///
    /// For loading many containers at once (imports, benchmarks): the batch costs one commit, one sync to disk.
    public func createContainers(
        attributes batch: [[String: JSONValue]],
        by caller: Caller
    ) async throws(ContainerAPIError) -> [Container] {
        let now = self.timestamp()
        var containers: [Container] = []
        containers.reserveCapacity(batch.count)
        for attributes in batch {
            let uuid = ContainerUUID(rawValue: Self.newUUID(cluster: self.clusterID, infix: ContainerUUID.typeInfix))
            containers.append(
                try ContainerRules.makeContainer(attributes: attributes, uuid: uuid, caller: caller, now: now)
            )
            try self.admit(containers[containers.count - 1])
        }
        var prepared: [StoredContainer] = []
        prepared.reserveCapacity(containers.count)
        for container in containers {
            prepared.append(try Self.stored(container, newEtag: true))
        }
        let batch = prepared
        return try await self.write { db in
            for stored in batch {
                try Self.insert(stored, into: db)
            }
            return (batch.map(\.container), batch)
        }
    }

    /// The container with `uuid`, if the caller may see it.
    public func container(_ uuid: String, as caller: Caller) async throws(ContainerAPIError) -> Container {
        let document = try await self.containerDocument(uuid, as: caller)
        return try Self.decodeDocument(bytes: document)
    }

    /// The stored JSON of the container with `uuid`, exactly what `GET` returns, if the caller may see it.
    ///
    /// Visibility is decided on the indexed columns, so the document is never decoded.
    func containerDocument(_ uuid: String, as caller: Caller) async throws(ContainerAPIError) -> [UInt8] {
        try await self.performRead { db in
            let row = try Row.fetchOne(
                db,
                sql: "SELECT owner_uuid, locked_by_uuid, document FROM containers WHERE uuid = ?",
                arguments: [uuid]
            )
            guard let row else {
                throw ContainerAPIError(.notFound, "Container \(uuid) not found")
            }
            let owner: String = row[0]
            let lockedBy: String? = row[1]
            guard caller.isAdmin || owner == caller.userUUID || (lockedBy != nil && lockedBy == caller.tokenUUID)
            else {
                throw ContainerAPIError(.notFound, "Container \(uuid) not found")
            }
            return try row.withUnsafeData(atIndex: 2) { data in Array(data ?? Data()) }
        }
    }

    /// Applies an update request to the container with `uuid`.
    public func updateContainer(
        _ uuid: String,
        attributes: [String: JSONValue],
        by caller: Caller
    ) async throws(ContainerAPIError) -> Container {
        try await self.updateStoredContainer(uuid, attributes: attributes, by: caller).container
    }

    /// Applies an update request, returning the container with its stored JSON.
    func updateStoredContainer(
        _ uuid: String,
        attributes: [String: JSONValue],
        by caller: Caller
    ) async throws(ContainerAPIError) -> StoredContainer {
        let now = self.timestamp()
        return try await self.change(uuid, as: caller) { current throws(ContainerAPIError) in
            try ContainerRules.update(current, with: attributes, by: caller, now: now)
        }
    }

    /// Locks the Queued container with `uuid` for the caller's token.
    public func lockContainer(_ uuid: String, by caller: Caller) async throws(ContainerAPIError) -> Container {
        try await self.lockStoredContainer(uuid, by: caller).container
    }

    /// Locks a Queued container, returning it with its stored JSON.
    func lockStoredContainer(_ uuid: String, by caller: Caller) async throws(ContainerAPIError) -> StoredContainer {
        let now = self.timestamp()
        return try await self.change(uuid, as: caller) { current throws(ContainerAPIError) in
            try ContainerRules.lock(current, by: caller, now: now)
        }
    }

    /// Unlocks the container with `uuid`, cancelling it once it has been locked `maxDispatchAttempts` times.
    public func unlockContainer(
        _ uuid: String,
        by caller: Caller,
        maxDispatchAttempts: Int,
        requeueRunning: Bool = false
    ) async throws(ContainerAPIError) -> Container {
        try await self.unlockStoredContainer(
            uuid,
            by: caller,
            maxDispatchAttempts: maxDispatchAttempts,
            requeueRunning: requeueRunning
        ).container
    }

    /// Unlocks a container, returning it with its stored JSON.
    func unlockStoredContainer(
        _ uuid: String,
        by caller: Caller,
        maxDispatchAttempts: Int,
        requeueRunning: Bool = false
    ) async throws(ContainerAPIError) -> StoredContainer {
        let now = self.timestamp()
        return try await self.change(uuid, as: caller) { current throws(ContainerAPIError) in
            try ContainerRules.unlock(
                current,
                by: caller,
                maxDispatchAttempts: maxDispatchAttempts,
                requeueRunning: requeueRunning,
                now: now
            )
        }
    }

    /// The containers matching a list query that the caller may see, as the text of a JSON array of their stored
    /// documents cut down to the query's `select`, and how many match in all.
    ///
    /// The documents are copied from SQLite's row buffers into the array text; none is decoded.
    func listContainers(
        _ query: ListQuery,
        as caller: Caller
    ) async throws(ContainerAPIError) -> (items: [UInt8], available: Int?) {
        let select = try Self.containerListSQL(query, as: caller)
        let condition = try query.condition(visibility: Self.containerVisibility(caller))
        let selection = RenderedJSON.Selection(query.select)
        return try await self.performRead { db in
            // The page is chosen on the indexed columns alone, then its documents are read one by one: when SQLite
            // must sort the matches (an order the indexes do not give), it sorts row ids, not every matching
            // document (10,000 Queued containers cost 40 ms of CPU a list that way).
            let page = try Int64.fetchAll(db, sql: select.sql, arguments: StatementArguments(select.arguments))
            let document = try db.cachedStatement(sql: "SELECT document FROM containers WHERE rowid = ?")
            var items: [UInt8] = [UInt8(ascii: "[")]
            var first = true
            for rowid in page {
                // The read is one transaction: every row of the page is still there.
                guard let row = try Row.fetchOne(document, arguments: [rowid]) else { continue }
                if !first {
                    items.append(UInt8(ascii: ","))
                }
                first = false
                try row.withUnsafeData(atIndex: 0) { data in
                    (data ?? Data()).withUnsafeBytes { document in
                        RenderedJSON.appendObject(document, selection: selection, to: &items)
                    }
                }
            }
            items.append(UInt8(ascii: "]"))
            var available: Int?
            if query.countItems {
                available = try Int.fetchOne(
                    db,
                    sql: "SELECT COUNT(*) FROM containers WHERE \(condition.sql)",
                    arguments: StatementArguments(condition.arguments)
                )
            }
            return (items, available)
        }
    }

    /// SQLite's plan for the `SELECT` of a container list query, one `EXPLAIN QUERY PLAN` detail line per step.
    func containerListPlan(_ query: ListQuery, as caller: Caller) async throws(ContainerAPIError) -> [String] {
        let select = try Self.containerListSQL(query, as: caller)
        return try await self.performRead { db in
            try Row.fetchAll(
                db,
                sql: "EXPLAIN QUERY PLAN \(select.sql)",
                arguments: StatementArguments(select.arguments)
            ).map { row in row["detail"] ?? "" }
        }
    }

    /// The `SELECT` of a container list query: the row ids of the page the caller may see, in the query's order.
    private static func containerListSQL(
        _ query: ListQuery,
        as caller: Caller
    ) throws(ContainerAPIError) -> SQLFragment {
        let condition = try query.condition(visibility: Self.containerVisibility(caller))
        return SQLFragment(
            sql: "SELECT rowid FROM containers WHERE \(condition.sql) ORDER BY \(query.orderSQL) LIMIT ? OFFSET ?",
            arguments: condition.arguments + [query.limit.databaseValue, query.offset.databaseValue]
        )
    }

    /// The condition limiting a container list to what the caller may see; `nil` for the admin.
    private static func containerVisibility(_ caller: Caller) -> SQLFragment? {
        caller.isAdmin
            ? nil
            : SQLFragment(
                sql: "owner_uuid = ? OR locked_by_uuid = ?",
                arguments: [caller.userUUID.databaseValue, caller.tokenUUID.databaseValue]
            )
    }

    // MARK: Logs

    /// Records a log entry; the caller must be able to see the container it is about, if it is about one.
    public func createLog(
        attributes: [String: JSONValue],
        by caller: Caller
    ) async throws(ContainerAPIError) -> LogRecord {
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) where key != "kind" {
            guard LogRecord.fields.contains(key) else {
                throw ContainerAPIError(.unprocessable, "Unknown attribute '\(key)' for a log")
            }
            guard LogRecord.creatableFields.contains(key) || value.isNull else {
                throw ContainerAPIError(.unprocessable, "Attribute '\(key)' cannot be set when creating a log")
            }
        }
        var record: LogRecord
        do {
            record = try WireJSON.decode(LogRecord.self, from: .object(attributes.filter { !$0.value.isNull }))
        } catch let error as DecodingError {
            throw ContainerAPIError(.unprocessable, "Invalid log attributes: \(ContainerRules.describe(error))")
        } catch {
            throw ContainerAPIError(.unprocessable, "Invalid log attributes", cause: error)
        }
        let now = self.timestamp()
        record.uuid = Self.newUUID(cluster: self.clusterID, infix: "57u5n")
        record.ownerUUID = caller.userUUID
        record.modifiedByUserUUID = caller.userUUID
        record.createdAt = now
        record.modifiedAt = now
        record.eventAt = record.eventAt ?? now
        let prepared = record
        let recent = self.recent
        return try await self.write { db in
            var record = prepared
            if let object = record.objectUUID,
                let container = try recent.stored(object)?.container ?? Self.fetchContainer(object, in: db)
            {
                guard ContainerRules.canSee(container, caller: caller) else {
                    throw ContainerAPIError(.forbidden, "Not permitted to log about \(object)")
                }
                record.objectOwnerUUID = container.ownerUUID
            }
            record.etag = Self.etag(of: try WireJSON.value(of: record))
            let document = WireJSON.string(try WireJSON.value(of: record))
            try db.execute(
                sql: """
                    INSERT INTO logs (uuid, owner_uuid, object_uuid, object_owner_uuid, event_type, created_at, document)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.uuid, record.ownerUUID, record.objectUUID, record.objectOwnerUUID, record.eventType,
                    now.microseconds, document,
                ]
            )
            record.id = db.lastInsertedRowID
            return (record, [])
        }
    }

    /// The log entry with `uuid`, if the caller may see it.
    func log(_ uuid: String, as caller: Caller) async throws(ContainerAPIError) -> LogRecord {
        var query = try ListQuery(parameters: [:], schema: .logs, maxLimit: 1)
        query.filters.append(
            .init(attribute: .init(column: "uuid", kind: .uuid), name: "uuid", op: "=", operand: .string(uuid))
        )
        guard let record = try await self.listLogs(query, as: caller).items.first else {
            throw ContainerAPIError(.notFound, "Log \(uuid) not found")
        }
        return record
    }

    /// The log entries matching a list query that the caller may see: its own, and those about its containers.
    func listLogs(
        _ query: ListQuery,
        as caller: Caller
    ) async throws(ContainerAPIError) -> (items: [LogRecord], available: Int?) {
        let visibility: SQLFragment? =
            caller.isAdmin
            ? nil
            : SQLFragment(
                sql: "owner_uuid = ? OR object_owner_uuid = ?",
                arguments: [caller.userUUID.databaseValue, caller.userUUID.databaseValue]
            )
        let condition = try query.condition(visibility: visibility)
        return try await self.performRead { db in
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT id, document FROM logs WHERE \(condition.sql) ORDER BY \(query.orderSQL) LIMIT ? OFFSET ?",
                arguments: StatementArguments(
                    condition.arguments + [query.limit.databaseValue, query.offset.databaseValue]
                )
            )
            let items = try rows.map { row throws(ContainerAPIError) -> LogRecord in
                var record: LogRecord = try Self.decodeDocument(row["document"])
                record.id = row["id"]
                return record
            }
            var available: Int?
            if query.countItems {
                available = try Int.fetchOne(
                    db,
                    sql: "SELECT COUNT(*) FROM logs WHERE \(condition.sql)",
                    arguments: StatementArguments(condition.arguments)
                )
            }
            return (items, available)
        }
    }
}

extension ContainerStore {
    /// The schema, one migration per change; never edit a shipped migration.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: containers and logs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE containers (
                        uuid TEXT PRIMARY KEY NOT NULL,
                        owner_uuid TEXT NOT NULL,
                        state TEXT NOT NULL,
                        priority INTEGER NOT NULL,
                        locked_by_uuid TEXT,
                        created_at INTEGER NOT NULL,
                        modified_at INTEGER NOT NULL,
                        lock_count INTEGER NOT NULL,
                        container_image TEXT NOT NULL,
                        exit_code INTEGER,
                        document TEXT NOT NULL
                    );
                    CREATE INDEX containers_state_priority ON containers (state, priority);
                    CREATE INDEX containers_priority ON containers (priority);
                    CREATE INDEX containers_locked_by_uuid ON containers (locked_by_uuid);
                    CREATE INDEX containers_created_at ON containers (created_at);
                    CREATE INDEX containers_modified_at ON containers (modified_at);
                    CREATE INDEX containers_owner_uuid ON containers (owner_uuid);
                    CREATE INDEX containers_lock_count ON containers (lock_count);
                    CREATE INDEX containers_container_image ON containers (container_image);
                    CREATE INDEX containers_exit_code ON containers (exit_code);
                    CREATE TABLE logs (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        uuid TEXT NOT NULL UNIQUE,
                        owner_uuid TEXT NOT NULL,
                        object_uuid TEXT,
                        object_owner_uuid TEXT,
                        event_type TEXT,
                        created_at INTEGER NOT NULL,
                        document TEXT NOT NULL
                    );
                    CREATE INDEX logs_object_uuid ON logs (object_uuid, id);
                    CREATE INDEX logs_owner_uuid ON logs (owner_uuid);
                    CREATE INDEX logs_object_owner_uuid ON logs (object_owner_uuid);
                    CREATE INDEX logs_created_at ON logs (created_at);
                    """
            )
        }
        migrator.registerMigration("v2: page containers locked by a token in UUID order") { db in
            // The dispatcher pages its locked containers with `locked_by_uuid = me AND uuid > last ORDER BY uuid`.
            // With an index on locked_by_uuid alone, every page sorted all the containers the token holds.
            try db.execute(
                sql: """
                    CREATE INDEX containers_locked_by_uuid_uuid ON containers (locked_by_uuid, uuid);
                    DROP INDEX containers_locked_by_uuid;
                    """
            )
        }
        migrator.registerMigration("v3: store each container's API JSON") { db in
            // A document is now exactly what GET returns, so lists and GET copy it instead of rendering it.
            let rows = try Row.fetchAll(db, sql: "SELECT uuid, document FROM containers")
            let statement = try db.makeStatement(sql: "UPDATE containers SET document = ? WHERE uuid = ?")
            for row in rows {
                let container: Container = try Self.decodeDocument(row["document"] as String?)
                let stored = try Self.stored(container, newEtag: false)
                try statement.execute(arguments: [stored.documentText, row["uuid"] as String?])
            }
        }
        migrator.registerMigration("v4: walk the Queued lists in their own orders") { db in
            // Clients list `state = Queued ORDER BY priority DESC, created_at` (then the uuid tie-breaker every list
            // order ends with), the dispatcher `state = Queued AND priority > 0 ORDER BY priority DESC, uuid`. On
            // (state, priority) both read every match of the top priority to sort it by the rest of the order (90,000
            // Queued containers of one priority: one list walked all 90,000); an index holding each whole order is a
            // covering walk that stops at the page's end. The order of the results is unchanged: each is total.
            try db.execute(
                sql: """
                    CREATE INDEX containers_state_priority_created_at
                        ON containers (state, priority DESC, created_at, uuid);
                    CREATE INDEX containers_state_priority_uuid ON containers (state, priority DESC, uuid);
                    DROP INDEX containers_state_priority;
                    """
            )
        }
        return migrator
    }

    /// Reads a container, applies `rule` and stores the result, in one write transaction.
    private func change(
        _ uuid: String,
        as caller: Caller,
        _ rule: @escaping @Sendable (Container) throws(ContainerAPIError) -> Container
    ) async throws(ContainerAPIError) -> StoredContainer {
        let recent = self.recent
        return try await self.write { db in
            guard let current = try recent.stored(uuid) ?? Self.fetchStoredContainer(uuid, in: db),
                ContainerRules.canSee(current.container, caller: caller)
            else {
                throw ContainerAPIError(.notFound, "Container \(uuid) not found")
            }
            let next = try rule(current.container)
            guard next != current.container else { return (current, []) }
            let stored = try Self.stored(next, newEtag: true)
            let container = stored.container
            try db.execute(
                sql: """
                    UPDATE containers SET owner_uuid = ?, state = ?, priority = ?, locked_by_uuid = ?, modified_at = ?,
                        lock_count = ?, container_image = ?, exit_code = ?, document = ?
                    WHERE uuid = ?
                    """,
                arguments: [
                    container.ownerUUID ?? "", container.state.rawValue, container.priority, container.lockedByUUID,
                    container.modifiedAt?.microseconds ?? 0, container.lockCount, container.containerImage,
                    container.exitCode, stored.documentText, container.uuid.rawValue,
                ]
            )
            return (stored, [stored])
        }
    }

    private static func insert(_ stored: StoredContainer, into db: Database) throws {
        let container = stored.container
        try db.execute(
            sql: """
                INSERT INTO containers (uuid, owner_uuid, state, priority, locked_by_uuid, created_at, modified_at,
                    lock_count, container_image, exit_code, document)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                container.uuid.rawValue, container.ownerUUID ?? "", container.state.rawValue, container.priority,
                container.lockedByUUID, container.createdAt?.microseconds ?? 0,
                container.modifiedAt?.microseconds ?? 0, container.lockCount, container.containerImage,
                container.exitCode, stored.documentText,
            ]
        )
    }

    private static func fetchContainer(_ uuid: String, in db: Database) throws -> Container? {
        try Self.fetchStoredContainer(uuid, in: db)?.container
    }

    private static func fetchStoredContainer(
        _ uuid: String,
        in db: Database
    ) throws -> StoredContainer? {
        guard let row = try Row.fetchOne(db, sql: "SELECT document FROM containers WHERE uuid = ?", arguments: [uuid])
        else {
            return nil
        }
        let document = try row.withUnsafeData(atIndex: 0) { data in Array(data ?? Data()) }
        return StoredContainer(container: try Self.decodeDocument(bytes: document), document: document)
    }

    private static func decodeDocument<T: Decodable>(bytes document: [UInt8]) throws(ContainerAPIError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(document))
        } catch {
            throw ContainerAPIError(.internal, "A stored document does not decode", cause: error)
        }
    }

    private static func decodeDocument<T: Decodable>(_ document: String?) throws(ContainerAPIError) -> T {
        try Self.decodeDocument(bytes: Array((document ?? "").utf8))
    }

    /// The container with its stored JSON: every attribute of the API, absent ones as `null`, plus `kind`.
    ///
    /// With `newEtag`, the etag becomes a digest of that JSON without the etag; otherwise the container's own
    /// etag is kept, as when a migration rewrites a document.
    static func stored(_ container: Container, newEtag: Bool) throws(ContainerAPIError) -> StoredContainer {
        var container = container
        var object = try ContainerRules.object(container)
        object["kind"] = .string("arvados#container")
        if newEtag {
            // Written once: the digest is of the document without its etag, which then goes in place.
            object["etag"] = nil
            let (bytes, insertion) = JSONValue.objectBytes(
                object,
                layout: Self.documentLayout,
                insertionPointOf: "etag"
            )
            let etag = Self.etag(ofBytes: bytes)
            container.etag = etag
            return StoredContainer(
                container: container,
                document: JSONValue.inserting("etag", .string(etag), into: bytes, at: insertion)
            )
        }
        return StoredContainer(container: container, document: WireJSON.bytes(.object(object)))
    }

    /// The members of a stored container's JSON without its etag: every attribute of the API and `kind`.
    static let documentLayout = JSONValue.ObjectLayout(keys: ContainerRules.fields.filter { $0 != "etag" } + ["kind"])

    /// A version tag for a record: a digest of its JSON without the tag.
    private static func etag(of value: JSONValue) -> String {
        var value = value
        if case .object(var members) = value {
            members["etag"] = nil
            value = .object(members)
        }
        return Self.etag(ofBytes: WireJSON.bytes(value))
    }

    /// A version tag for a record whose JSON without the tag is `bytes`.
    private static func etag(ofBytes bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).prefix(12).map { String($0, radix: 36) }.joined()
    }

    /// A fresh Arvados UUID, `<cluster>-<infix>-<15 random lowercase alphanumerics>`.
    static func newUUID(cluster: ClusterID, infix: String) -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var generator = SystemRandomNumberGenerator()
        let suffix = (0..<15).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
        return "\(cluster)-\(infix)-\(String(suffix))"
    }

    /// Now, to the microsecond, which is the precision the timestamp columns keep.
    ///
    /// Built from whole microseconds, so that it equals the timestamp its stored JSON text decodes to.
    private func timestamp() -> Timestamp {
        let micros = Int64((self.now().timeIntervalSince1970 * 1_000_000).rounded(.down))
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        return Timestamp(secondsSince1970: seconds, nanoseconds: Int32(micros - seconds * 1_000_000) * 1000)
    }

    /// Runs `body` in one write transaction that changes containers; `body` returns its result and the
    /// container records it wrote.
    ///
    /// The records reach the cache of decoded records and the change feed only once COMMIT has succeeded, on
    /// the writer, so in commit order. When anything fails (a statement, a refusal by the rules, COMMIT itself
    /// on a full disk, an I/O error, a busy database), SQLite or GRDB rolls the transaction back and nothing of
    /// it is published; after a database error the cache starts over, so no record it holds can differ from the
    /// database.
    ///
    /// (GRDB's `afterNextTransaction` is not used for this: when SQLite rolls a transaction back by itself, as
    /// it does for `SQLITE_FULL` and I/O errors, GRDB tells such observers neither commit nor rollback, and they
    /// fire at the next commit instead, publishing records that were never stored.)
    private func write<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> (T, [StoredContainer])
    ) async throws(ContainerAPIError) -> T {
        let recent = self.recent
        let changes = self.changes
        let beforeCommit = self.beforeCommitForTesting.withLock { $0 }
        return try await self.perform { db in
            var written: (T, [StoredContainer])?
            do {
                try db.inTransaction {
                    written = try body(db)
                    try beforeCommit?(db)
                    return .commit
                }
            } catch let error as ContainerAPIError where error.code != .internal {
                // Refused by the rules before anything was written.
                throw error
            } catch {
                recent.removeAll()
                throw error
            }
            guard let (result, records) = written else {
                throw ContainerAPIError(.internal, "A write transaction ended without a result")
            }
            if !records.isEmpty {
                recent.remember(records)
                changes.publish(records.map(\.container))
            }
            return result
        }
    }

    /// Runs `body` on the writer's connection (outside any transaction unless `body` opens one).
    private func perform<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(ContainerAPIError) -> T {
        do {
            return try await self.pool.writeWithoutTransaction(body)
        } catch let error as ContainerAPIError {
            throw error
        } catch {
            throw ContainerAPIError(.internal, Self.writeFailure(error), cause: error)
        }
    }

    /// The message for a failed write: what SQLite said went wrong (never the SQL or its arguments).
    private static func writeFailure(_ error: any Error) -> String {
        guard let error = error as? DatabaseError else { return "Database write failed" }
        switch error.resultCode {
        case .SQLITE_FULL: return "Database write failed: database or disk is full"
        case .SQLITE_BUSY, .SQLITE_LOCKED: return "Database write failed: database is busy"
        case .SQLITE_IOERR: return "Database write failed: I/O error"
        case .SQLITE_READONLY: return "Database write failed: database is read-only"
        default: return "Database write failed"
        }
    }

    private func performRead<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(ContainerAPIError) -> T {
        do {
            return try await self.pool.read(body)
        } catch let error as ContainerAPIError {
            throw error
        } catch {
            throw ContainerAPIError(.internal, "Database read failed", cause: error)
        }
    }
}

/// The last committed record of recently created or changed containers, decoded, for the next change of each.
///
/// The store's writer sets entries only after their transaction has committed and clears the cache after any
/// failed write, and the store is the only writer of its database (the data directory is locked), so an entry
/// is always the row as stored. At most `capacity` entries are kept; when full, the cache starts over.
final class RecentContainers: Sendable {
    private let entries = Mutex<[String: StoredContainer]>([:])
    let capacity: Int

    init(capacity: Int = 4096) { self.capacity = capacity }

    func stored(_ uuid: String) -> StoredContainer? {
        self.entries.withLock { $0[uuid] }
    }

    /// Takes `records`, which have just been committed.
    func remember(_ records: [StoredContainer]) {
        self.entries.withLock { entries in
            if entries.count + records.count > self.capacity { entries.removeAll(keepingCapacity: true) }
            for record in records.suffix(self.capacity) { entries[record.container.uuid.rawValue] = record }
        }
    }

    /// Forgets every entry: after a failed write, when what the database holds is not known for certain.
    func removeAll() {
        self.entries.withLock { $0.removeAll() }
    }

    /// The number of entries.
    var count: Int { self.entries.withLock { $0.count } }
}
