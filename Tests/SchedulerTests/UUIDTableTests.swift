import CloudDriverSimulated
import DispatchModel
import Testing

@testable import Scheduler

/// The runner match's table finds exactly the UUIDs added to it, at the positions they were added at.
@Suite("UUID table")
struct UUIDTableTests {
    @Test("20,000 UUIDs, packed and not, some added twice: every look-up agrees with a dictionary")
    func agreesWithDictionary() {
        var random = SeededRandomNumberGenerator(seed: 5)
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var tails: [String] = []
        func uuid() -> ContainerUUID {
            if Int.random(in: 0..<5, using: &random) == 0 {
                // Not a well-formed UUID: kept as text.
                return ContainerUUID(rawValue: "c\(Int.random(in: 0..<50_000, using: &random))")
            }
            // Three clusters, and tails reused across them: UUIDs whose packed words differ in one word only (the
            // cluster is in the high word, the tail's last eight characters in the low).
            let cluster = ["zzzzz", "aaaaa", "zz9zz"].randomElement(using: &random)!
            let tail =
                !tails.isEmpty && Int.random(in: 0..<4, using: &random) == 0
                ? tails.randomElement(using: &random)!
                : String((0..<15).map { _ in alphabet.randomElement(using: &random)! })
            tails.append(tail)
            return ContainerUUID(rawValue: cluster + "-dz642-" + tail)
        }
        // Starts small, so it grows many times.
        var table = UUIDTable<Int>(capacity: 4)
        var expected: [ContainerUUID: Int] = [:]
        var added: [ContainerUUID] = []
        for i in 0..<20_000 {
            let key =
                i > 0 && Int.random(in: 0..<10, using: &random) == 0 ? added.randomElement(using: &random)! : uuid()
            let position = table.insert(key, i)
            if let known = expected[key] {
                #expect(position == known, "a key added twice keeps its first position")
            } else {
                #expect(position == expected.count)
                expected[key] = position
                added.append(key)
            }
        }
        #expect(table.count == expected.count)
        for (key, position) in expected {
            #expect(table.index(of: key, digest: key.digest) == position)
            #expect(table.keys[position] == key)
        }
        // UUIDs never added are not found.
        var absent = 0
        for _ in 0..<5_000 {
            let key = uuid()
            guard expected[key] == nil else { continue }
            absent += 1
            #expect(table.index(of: key, digest: key.digest) == nil)
        }
        #expect(absent > 3_000)
        // Same low word, another cluster: a different UUID.
        #expect(expected.keys.contains { $0.rawValue.hasPrefix("aaaaa") })
        let sharedTails = Dictionary(grouping: expected.keys.filter(\.isWellFormed)) { $0.rawValue.dropFirst(12) }
        #expect(sharedTails.values.contains { $0.count > 1 }, "some tails are in two clusters")
    }
}
