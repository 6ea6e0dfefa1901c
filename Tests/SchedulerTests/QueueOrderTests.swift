import DispatchModel
import Testing

@testable import Scheduler

/// The radix sort of the queue's scheduling order agrees with the order's definition, checked by a comparison sort.
@Suite("Queue order")
struct QueueOrderTests {
    struct Key {
        var onWorker: Bool
        var locked: Bool
        var priority: Int
        var seen: Timestamp
    }

    /// The definition: on a worker first, Locked before Queued, priority descending, first seen, then position.
    static func expected(_ keys: [Key]) -> [Int32] {
        keys.indices.sorted { a, b in
            let ka = keys[a]
            let kb = keys[b]
            if ka.onWorker != kb.onWorker { return ka.onWorker }
            if ka.locked != kb.locked { return ka.locked }
            let pa = min(max(0, ka.priority), (1 << 62) - 1)
            let pb = min(max(0, kb.priority), (1 << 62) - 1)
            if pa != pb { return pa > pb }
            if ka.seen != kb.seen { return ka.seen < kb.seen }
            return a < b
        }.map { Int32($0) }
    }

    /// The queue order of `keys`, from `memo` where it can.
    static func sorted(_ keys: [Key], reusing memo: QueueOrder.Memo? = nil) -> QueueOrder.Memo {
        var words = QueueOrder.Words(count: keys.count)
        for key in keys {
            words.append(onWorker: key.onWorker, locked: key.locked, priority: key.priority, firstSeenAt: key.seen)
        }
        return QueueOrder.sorted(words, reusing: memo)
    }

    @Test("Random queues, with ties, extreme priorities and times before 1970, sort as the definition says")
    func matchesComparisonSort() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<300 {
            let count = Int.random(in: 0...(round < 200 ? 40 : 2000), using: &generator)
            // Narrow ranges make ties (which must keep snapshot order); wide ones make every byte vary.
            let wide = round % 3 == 0
            let keys = (0..<count).map { _ in
                Key(
                    onWorker: Int.random(in: 0..<4, using: &generator) == 0,
                    locked: Bool.random(using: &generator),
                    priority: wide
                        ? [Int.min, -1, 0, Int.max, Int.random(in: Int.min...Int.max, using: &generator)].randomElement(
                            using: &generator
                        )!
                        : Int.random(in: 0...3, using: &generator),
                    seen: Timestamp(
                        secondsSince1970: wide
                            ? Int64.random(in: -(1 << 40)...(1 << 40), using: &generator)
                            : Int64.random(in: 1_800_000_000...1_800_000_002, using: &generator),
                        nanoseconds: wide ? Int32.random(in: 0..<1_000_000_000, using: &generator) : 0
                    )
                )
            }
            #expect(Self.sorted(keys).order == Self.expected(keys), "round \(round), \(count) entries")
        }
    }

    @Test("Entries alike in every key keep their snapshot order")
    func identicalKeysKeepOrder() {
        let key = Key(onWorker: false, locked: true, priority: 7, seen: Timestamp(secondsSince1970: 5))
        #expect(Self.sorted(Array(repeating: key, count: 50)).order == (0..<50).map { Int32($0) })
    }

    @Test("A queue that changes a little between passes: the order from the last one equals a fresh sort")
    func mergedFromLastPass() {
        var generator = SystemRandomNumberGenerator()
        var merged = 0
        var mergedAcrossCounts = 0
        for walk in 0..<20 {
            let wide = walk % 2 == 0
            func key() -> Key {
                Key(
                    onWorker: Int.random(in: 0..<4, using: &generator) == 0,
                    locked: Bool.random(using: &generator),
                    priority: wide
                        ? Int.random(in: Int.min...Int.max, using: &generator)
                        : Int.random(in: 0...3, using: &generator),
                    seen: Timestamp(
                        secondsSince1970: Int64.random(
                            in: 1_800_000_000...(wide ? 1_800_090_000 : 1_800_000_002),
                            using: &generator
                        ),
                        nanoseconds: wide ? Int32.random(in: 0..<1_000_000_000, using: &generator) : 0
                    )
                )
            }
            var keys = (0..<Int.random(in: 2...600, using: &generator)).map { _ in key() }
            var memo: QueueOrder.Memo?
            for pass in 0..<30 {
                // A few entries change (a start, a lock, a priority), now and then one comes or goes, or many change.
                switch Int.random(in: 0..<10, using: &generator) {
                case 0: keys.append(key())
                case 1: if keys.count > 2 { keys.remove(at: Int.random(in: 0..<keys.count, using: &generator)) }
                case 2: for i in keys.indices where Bool.random(using: &generator) { keys[i] = key() }
                case 3, 4:
                    // As the queue takes one out: its last entry moves into its place.
                    if keys.count > 2 {
                        let i = Int.random(in: 0..<keys.count, using: &generator)
                        keys[i] = keys[keys.count - 1]
                        keys.removeLast()
                    }
                default:
                    for _ in 0..<Int.random(in: 0...3, using: &generator) {
                        let i = Int.random(in: 0..<keys.count, using: &generator)
                        switch Int.random(in: 0..<3, using: &generator) {
                        case 0: keys[i].onWorker.toggle()
                        case 1: keys[i].locked.toggle()
                        default: keys[i] = key()
                        }
                    }
                }
                let next = Self.sorted(keys, reusing: memo)
                #expect(next.order == Self.expected(keys), "walk \(walk), pass \(pass)")
                if next.merged { merged += 1 }
                if next.merged, let memo, memo.order.count != next.order.count { mergedAcrossCounts += 1 }
                memo = next
            }
        }
        // Most passes change few entries: the merge covered them, those where the queue grew or shrank too.
        #expect(merged > 200)
        #expect(mergedAcrossCounts > 50)
    }
}
