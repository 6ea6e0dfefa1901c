import DispatchModel
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

    @Test("Records are taken as committed, all forgotten after a failed write, and the cache starts over when full")
    func rememberAndForget() {
        let recent = RecentContainers(capacity: 3)
        let first = Self.record(1)
        recent.remember([first])
        #expect(recent.stored(first.container.uuid.rawValue)?.container == first.container)

        // After a failed write nothing is kept: the database is the only truth until the next commit.
        recent.removeAll()
        #expect(recent.stored(first.container.uuid.rawValue) == nil)
        #expect(recent.count == 0)

        recent.remember([Self.record(2), Self.record(3), Self.record(4)])
        #expect(recent.stored(Self.record(2).container.uuid.rawValue) != nil)
        recent.remember([Self.record(5)])
        #expect(recent.stored(Self.record(2).container.uuid.rawValue) == nil)
        #expect(recent.stored(Self.record(5).container.uuid.rawValue) != nil)
    }
}
