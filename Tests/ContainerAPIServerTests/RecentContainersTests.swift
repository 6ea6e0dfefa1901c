import DispatchModel
import GRDB
import Testing

@testable import ContainerAPIServer

/// The store's cache of decoded records: it may only ever hold what was committed.
@Suite("Recent containers cache")
struct RecentContainersTests {
    static func record(_ number: Int, state: ContainerState = .queued) -> StoredContainer {
        var container = Container(
            uuid: ContainerUUID(rawValue: "zzzzz-dz642-\(String(repeating: "0", count: 14))\(number)")
        )
        container.state = state
        return StoredContainer(container: container, document: Array("{}".utf8))
    }

    struct Abort: Error {}

    @Test("Records are taken on commit, dropped on rollback, and the cache starts over when full")
    func commitAndRollback() throws {
        let database = try DatabaseQueue()
        let recent = RecentContainers(capacity: 3)
        let first = Self.record(1)
        try database.write { db in recent.remember([first], in: db) }
        #expect(recent.stored(first.container.uuid.rawValue)?.container == first.container)

        // A transaction that rolls back leaves nothing of its own, and forgets the older entry it replaced.
        let changed = Self.record(1, state: .locked)
        #expect(throws: Abort.self) {
            try database.write { db in
                recent.remember([changed], in: db)
                throw Abort()
            }
        }
        #expect(recent.stored(first.container.uuid.rawValue) == nil)

        try database.write { db in recent.remember([Self.record(2), Self.record(3), Self.record(4)], in: db) }
        #expect(recent.stored(Self.record(2).container.uuid.rawValue) != nil)
        try database.write { db in recent.remember([Self.record(5)], in: db) }
        #expect(recent.stored(Self.record(2).container.uuid.rawValue) == nil)
        #expect(recent.stored(Self.record(5).container.uuid.rawValue) != nil)
    }
}
