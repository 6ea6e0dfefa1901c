import DispatchModel
import Foundation
import GRDB
import Logging
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import Testing

@testable import ContainerAPIServer

/// A full disk, an I/O error or a busy database fails a write: afterwards the database, the store's cached
/// records and the change feed agree that the change never happened, and once space returns everything
/// acknowledged proceeds.
///
/// Disk full is real SQLite `SQLITE_FULL`: `PRAGMA max_page_count` caps the database at its current size, so
/// any write that needs one more page fails, as on a full file system. SQLite answers a full disk during a
/// transaction's statements or at its COMMIT the same way, by rolling the whole transaction back; the
/// COMMIT case is reproduced by a scratch row written just before COMMIT, after the container's own changes.
@Suite("Storage faults leave one truth")
struct StorageFaultTests {
    /// Starts a container API server on 127.0.0.1, runs `body` with it and its store, and stops it.
    static func with<T: Sendable>(_ body: (LiveServer, ContainerStore) async throws -> T) async throws -> T {
        try await LiveServer.withServer { live, server in try await body(live, server.store) }
    }

    /// Fills the disk: the database may not grow by one page, and every write transaction, after its own
    /// changes, writes a scratch row that needs a new page, so it fails with `SQLITE_FULL` just before COMMIT.
    static func fillDisk(_ store: ContainerStore) async throws {
        try await store.withWriterForTesting { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS fault_filler (data BLOB)")
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        store.beforeCommitForTesting.withLock { hook in
            hook = { db in try db.execute(sql: "INSERT INTO fault_filler (data) VALUES (zeroblob(65536))") }
        }
    }

    /// Space returns: no cap, no scratch row.
    static func freeDisk(_ store: ContainerStore) async throws {
        store.beforeCommitForTesting.withLock { $0 = nil }
        try await store.withWriterForTesting { db in try db.execute(sql: "PRAGMA max_page_count = 1073741823") }
    }

    /// The stored row's state and lock count, read straight from the database file.
    static func row(_ uuid: String, in server: LiveServer) throws -> (state: String, lockCount: Int, priority: Int) {
        let database = try DatabaseQueue(path: server.dataDirectory + "/containers.sqlite")
        return try database.read { db in
            let row = try #require(
                try Row.fetchOne(
                    db,
                    sql: "SELECT state, lock_count, priority FROM containers WHERE uuid = ?",
                    arguments: [uuid]
                )
            )
            return (row["state"], row["lock_count"], row["priority"])
        }
    }

    /// Every change pushed so far, without waiting for more.
    static func drain(_ subscription: ChangeFeed.Subscription, expecting count: Int) async -> [Container] {
        var containers: [Container] = []
        while containers.count < count, let batch = await subscription.next() { containers += batch.containers }
        return containers
    }

    @Test("A lock that fails on a full disk leaves the container Queued everywhere, and it locks once space returns")
    func failedLockThenGetAndLock() async throws {
        try await Self.with { server, store in
            let subscription = store.changes.subscribe()
            defer { subscription.cancel() }
            let uuid = try #require(try await server.createContainer(token: TestTokens.alice).json["uuid"]?.stringValue)

            try await Self.fillDisk(store)
            let failed = try await server.call(.POST, "/arvados/v1/containers/\(uuid)/lock")
            #expect(failed.status >= 500)
            #expect(!failed.errors.isEmpty, "a 5xx with an Arvados error body")
            try await Self.freeDisk(store)

            // Someone else's write commits (the finding's runner logs, another submitter): nothing of the
            // failed lock may ride along with it.
            let other = try #require(try await server.createContainer(token: TestTokens.bob).json["uuid"]?.stringValue)

            let got = try await server.call(.GET, "/arvados/v1/containers/\(uuid)")
            #expect(got["state"]?.stringValue == "Queued")
            #expect(got["lock_count"] == .int(0))
            #expect(try Self.row(uuid, in: server).state == "Queued")

            let locked = try await server.call(.POST, "/arvados/v1/containers/\(uuid)/lock")
            #expect(locked.status == 200, "\(locked.errors)")
            #expect(locked["state"]?.stringValue == "Locked")
            #expect(locked["lock_count"] == .int(1))
            #expect(try Self.row(uuid, in: server).state == "Locked")

            // The feed saw the create, the other create and the real lock, never the failed one.
            let pushed = await Self.drain(subscription, expecting: 3)
            #expect(pushed.map(\.uuid.rawValue) == [uuid, other, uuid])
            #expect(pushed.map(\.state) == [.queued, .queued, .locked])
            #expect(pushed.last?.lockCount == 1)
            #expect(pushed.last?.etag == locked["etag"]?.stringValue)
        }
    }

    @Test("After a lock fails on a full disk, the owner's priority change does not write Locked")
    func failedLockThenOwnerPatch() async throws {
        try await Self.with { server, store in
            let uuid = try #require(try await server.createContainer(token: TestTokens.alice).json["uuid"]?.stringValue)
            try await Self.fillDisk(store)
            #expect(try await server.call(.POST, "/arvados/v1/containers/\(uuid)/lock").status >= 500)
            try await Self.freeDisk(store)
            _ = try await server.createContainer(token: TestTokens.bob)

            let patched = try await server.call(
                .PUT,
                "/arvados/v1/containers/\(uuid)",
                token: TestTokens.alice,
                json: .object(["container": .object(["priority": .int(5)])])
            )
            #expect(patched.status == 200, "\(patched.errors)")
            #expect(patched["state"]?.stringValue == "Queued")
            #expect(patched["locked_by_uuid"] == .null)
            let row = try Self.row(uuid, in: server)
            #expect(row.state == "Queued")
            #expect(row.lockCount == 0)
            #expect(row.priority == 5)
        }
    }

    /// Each kind of write, failing at COMMIT on a full disk.
    enum Write: String, CaseIterable, Sendable {
        case create, lock, unlock, update, cancel
    }

    @Test(
        "Every kind of write that fails at COMMIT leaves no trace in the database, the cache or the feed",
        arguments: Write.allCases
    )
    func everyWriteRollsBack(_ write: Write) async throws {
        try await Self.with { server, store in
            let uuid = try #require(try await server.createContainer(token: TestTokens.alice).json["uuid"]?.stringValue)
            if write == .unlock {
                #expect(try await server.call(.POST, "/arvados/v1/containers/\(uuid)/lock").status == 200)
            }
            let before = try await server.call(.GET, "/arvados/v1/containers/\(uuid)")
            let subscription = store.changes.subscribe()
            defer { subscription.cancel() }

            try await Self.fillDisk(store)
            let response: APIResponse
            switch write {
            case .create: response = try await server.createContainer(token: TestTokens.alice)
            case .lock: response = try await server.call(.POST, "/arvados/v1/containers/\(uuid)/lock")
            case .unlock: response = try await server.call(.POST, "/arvados/v1/containers/\(uuid)/unlock")
            case .update, .cancel:
                let attributes: [String: JSONValue] =
                    write == .update ? ["priority": .int(7)] : ["state": .string("Cancelled")]
                response = try await server.call(
                    .PUT,
                    "/arvados/v1/containers/\(uuid)",
                    token: TestTokens.alice,
                    json: .object(["container": .object(attributes)])
                )
            }
            #expect(response.status == 500)
            #expect(response.errors.first?.contains("Database write failed") == true, "\(response.errors)")
            try await Self.freeDisk(store)

            // A later commit carries nothing of the failed write.
            let marker = try #require(try await server.createContainer(token: TestTokens.bob).json["uuid"]?.stringValue)
            let pushed = await Self.drain(subscription, expecting: 1)
            #expect(pushed.map(\.uuid.rawValue) == [marker])
            let after = try await server.call(.GET, "/arvados/v1/containers/\(uuid)")
            #expect(after.json == before.json)
            let list = try await server.call(
                .GET,
                "/arvados/v1/containers" + LiveServer.query(["count": .string("exact")])
            )
            #expect(list["items_available"] == .int(2), "the failed create stored nothing")

            // The cached record is the stored one: a real change now starts from it.
            let changed = try await server.call(
                .PUT,
                "/arvados/v1/containers/\(uuid)",
                token: TestTokens.alice,
                json: .object(["container": .object(["priority": .int(9)])])
            )
            #expect(changed.status == 200)
            #expect(changed["state"] == before["state"])
            #expect(changed["lock_count"] == before["lock_count"])
            #expect(try Self.row(uuid, in: server).priority == 9)
        }
    }

    @Test(
        "Writes on a full disk fail with 500 and store nothing; once space returns, every acknowledged container runs to completion"
    )
    func diskFullThenSpaceReturns() async throws {
        try await Self.with { server, store in
            let subscription = store.changes.subscribe()
            defer { subscription.cancel() }
            // The database may grow by two pages: creates succeed until the file is full.
            try await store.withWriterForTesting { db in
                let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                try db.execute(sql: "PRAGMA max_page_count = \(pages + 2)")
            }
            var acknowledged: [String] = []
            var refused = 0
            for _ in 0..<200 where refused < 3 {
                let response = try await server.createContainer(token: TestTokens.alice)
                if response.status == 200, let uuid = response["uuid"]?.stringValue {
                    acknowledged.append(uuid)
                } else {
                    #expect(response.status == 500)
                    #expect(response.errors == ["Database write failed: database or disk is full"])
                    refused += 1
                }
            }
            #expect(refused == 3, "the disk filled up")
            #expect(!acknowledged.isEmpty)
            // Locks on a full disk fail too, or succeed; either way the answer is the truth.
            var locked: Set<String> = []
            for uuid in acknowledged {
                let response = try await server.call(.POST, "/arvados/v1/containers/\(uuid)/lock")
                if response.status == 200 { locked.insert(uuid) } else { #expect(response.status == 500) }
            }

            try await Self.freeDisk(store)
            for uuid in acknowledged {
                #expect(try Self.row(uuid, in: server).state == (locked.contains(uuid) ? "Locked" : "Queued"))
                if !locked.contains(uuid) {
                    #expect(try await server.call(.POST, "/arvados/v1/containers/\(uuid)/lock").status == 200)
                }
                for (state, extra) in [("Running", [:]), ("Complete", ["exit_code": JSONValue.int(0)])] {
                    var attributes: [String: JSONValue] = ["state": .string(state)]
                    attributes.merge(extra) { $1 }
                    let response = try await server.call(
                        .PUT,
                        "/arvados/v1/containers/\(uuid)",
                        json: .object(["container": .object(attributes)])
                    )
                    #expect(response.status == 200, "\(state): \(response.errors)")
                }
            }
            let list = try await server.call(
                .GET,
                "/arvados/v1/containers"
                    + LiveServer.query([
                        "count": .string("exact"),
                        "filters": .array([.array([.string("state"), .string("="), .string("Complete")])]),
                    ])
            )
            #expect(list["items_available"] == .int(Int64(acknowledged.count)))
            // The feed carried each acknowledged change once: create, lock, Running, Complete.
            let pushed = await Self.drain(subscription, expecting: acknowledged.count * 4)
            #expect(pushed.count == acknowledged.count * 4)
            #expect(Set(pushed.map(\.uuid.rawValue)) == Set(acknowledged))
        }
    }
}
