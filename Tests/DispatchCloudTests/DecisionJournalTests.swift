import DecisionJournal
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import Testing

@Suite("Decision journal")
struct DecisionJournalTests {
    static let uuid = ContainerUUID(rawValue: "zzzzz-dz642-000000000000001")

    static func event(_ second: Int64, _ kind: JournalEvent.Kind, instance: InstanceID? = nil) -> JournalEvent {
        JournalEvent(
            time: Timestamp(secondsSince1970: 1_800_000_000 + second),
            kind: kind,
            container: Self.uuid,
            instance: instance,
            reason: "\(kind) at \(second)",
            figures: [.init("second", "\(second)")]
        )
    }

    @Test("The journal survives a restart: events read back in order, numbering continues")
    func survivesRestart() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        do {
            let store = try JournalStore(dataDirectory: directory.path)
            let journal = DecisionJournal(lastSequence: try store.lastSequence())
            journal.record(Self.event(1, .lock))
            journal.record(Self.event(2, .create))
            journal.record(Self.event(3, .start, instance: "i-1"))
            JournalWriter(
                journal: journal,
                store: store,
                retention: .seconds(3600),
                clock: ContinuousClock(),
                logger: Logger(label: "journal-test")
            ).flush()
        }
        let store = try JournalStore(dataDirectory: directory.path)
        let events = try store.events(about: .container(Self.uuid))
        #expect(events.map(\.kind) == [.lock, .create, .start])
        #expect(events.map(\.sequence) == [1, 2, 3])
        #expect(events[2].figures == [.init("second", "3")])
        #expect(try store.events(about: .instance("i-1")).map(\.kind) == [.start])
        let journal = DecisionJournal(lastSequence: try store.lastSequence())
        journal.record(Self.event(4, .unlock))
        #expect(journal.recent().map(\.sequence) == [4])
    }

    @Test("Retention prunes older events; the ring keeps only the newest")
    func retentionAndRing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try JournalStore(dataDirectory: directory.path)
        let journal = DecisionJournal(capacity: 2)
        for second in 1...3 { journal.record(Self.event(Int64(second) * 100, .wait)) }
        #expect(journal.recent().map(\.time.secondsSince1970) == [1_800_000_200, 1_800_000_300])
        let writer = JournalWriter(
            journal: journal,
            store: store,
            retention: .seconds(150),
            clock: ContinuousClock(),
            wallClock: { Timestamp(secondsSince1970: 1_800_000_400) },
            logger: Logger(label: "journal-test")
        )
        writer.flush()
        #expect(try store.prune(before: Timestamp(secondsSince1970: 1_800_000_250)) == 2)
        #expect(try store.events(about: .container(Self.uuid)).count == 1)
    }
}
