import DispatchTestSupport
import Foundation
import Testing

@testable import DispatchModel

/// The queue's chunked list of entries: an array to its readers, whose copies share every chunk but those changed.
@Suite("Queue entry list")
struct QueueEntryListTests {
    static func uuid(_ i: Int) -> ContainerUUID {
        let digits = String(i)
        return ContainerUUID(rawValue: "zzzzz-dz642-" + String(repeating: "0", count: 15 - digits.count) + digits)
    }

    static func entry(_ i: Int, priority: Int = 1) -> QueueEntry {
        QueueEntry(
            container: Container(uuid: Self.uuid(i), state: .queued, priority: priority),
            instanceTypes: [],
            resources: InstanceResources(vcpus: 1, ram: .giB(1)),
            firstSeenAt: Timestamp(secondsSince1970: 1_800_000_000)
        )
    }

    @Test("Reads as an array through random appends, replacements and removals across chunk boundaries")
    func agreesWithArray() {
        var serial = 0
        FuzzBudget(name: "queue-entry-list", defaultCases: 200).run { random in
            var list = QueueEntryList()
            var reference: [QueueEntry] = []
            for _ in 0..<Int.random(in: 1...600, using: &random) {
                serial += 1
                switch Int.random(in: 0..<10, using: &random) {
                case 0..<5:
                    list.append(Self.entry(serial))
                    reference.append(Self.entry(serial))
                case 5..<7 where !reference.isEmpty:
                    let i = Int.random(in: reference.indices, using: &random)
                    list[i] = Self.entry(serial, priority: 2)
                    reference[i] = Self.entry(serial, priority: 2)
                case 7..<9 where !reference.isEmpty:
                    let i = Int.random(in: reference.indices, using: &random)
                    let moved = list.removeMovingLast(at: i)
                    let last = reference.removeLast()
                    if i < reference.count {
                        reference[i] = last
                        #expect(moved?.uuid == last.uuid)
                    } else {
                        #expect(moved == nil)
                    }
                case 9 where !reference.isEmpty:
                    list.removeLast()
                    reference.removeLast()
                default:
                    continue
                }
            }
            #expect(list.count == reference.count)
            #expect(list.map(\.uuid) == reference.map(\.uuid))
            #expect(list.map(\.container.priority) == reference.map(\.container.priority))
            #expect(list.indices == reference.indices)
            #expect(QueueEntryList(reference).map(\.uuid) == reference.map(\.uuid))
        }
    }

    @Test("Chunks grow with the list, and a list read across a regrouping reads as an array")
    func chunksGrow() {
        var list = QueueEntryList()
        var reference: [QueueEntry] = []
        var copies: [(QueueEntryList, [UInt64])] = []
        var capacities: [Int] = []
        for i in 0..<40_000 {
            list.append(Self.entry(i))
            reference.append(Self.entry(i))
            if i % 4_099 == 0 {
                // A copy taken before a regrouping keeps its entries and its chunks.
                copies.append((list, list.map(\.summary.uuidDigest)))
                list[i / 2] = Self.entry(i + 100_000)
                reference[i / 2] = Self.entry(i + 100_000)
            }
            if capacities.last != list.chunkCapacity { capacities.append(list.chunkCapacity) }
        }
        // 32 up to 8,192 entries, 64 up to 32,768, then 128.
        #expect(capacities == [32, 64, 128])
        #expect(list.map(\.uuid) == reference.map(\.uuid))
        for (copy, digests) in copies { #expect(copy.map(\.summary.uuidDigest) == digests) }
        while list.count > 5_000 {
            list.removeMovingLast(at: 7)
            let last = reference.removeLast()
            reference[7] = last
        }
        #expect(list.chunkCapacity == 128, "a shrinking list keeps its chunk size")
        #expect(list.map(\.uuid) == reference.map(\.uuid))
    }

    @Test("A copy keeps its entries when the original changes, and shares every chunk but the changed one")
    func copiesShareChunks() {
        var list = QueueEntryList((0..<1000).map { Self.entry($0) })
        let copy = list
        list[500] = Self.entry(5000, priority: 7)
        #expect(copy[500].uuid == Self.uuid(500))
        #expect(copy[500].container.priority == 1)
        #expect(list[500].container.priority == 7)
        func storage(_ chunk: [QueueEntry]) -> UnsafeRawPointer? {
            chunk.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        }
        #expect(list.chunkCapacity == 32 && list.chunks.count == 32)
        let shared = zip(list.chunks, copy.chunks).filter { storage($0) == storage($1) }.count
        #expect(shared == list.chunks.count - 1)
        list.removeMovingLast(at: 3)
        #expect(copy.count == 1000 && list.count == 999)
        #expect(copy[3].uuid == Self.uuid(3) && list[3].uuid == Self.uuid(999))
    }
}
