import DispatchModel

/// The scheduling order of a queue, computed with a stable radix sort.
///
/// The order is: on a worker first, then Locked before Queued, then priority descending, then first
/// seen, then snapshot position. Each entry gets three 64-bit words compared in turn; a least-significant-
/// digit radix sort over their bytes is stable, so equal words keep snapshot order. Only the bytes that differ
/// between entries are sorted on (most do not: priorities and timestamps vary in a few low bytes); one pass over
/// the words finds them, so 100,000 entries take a handful of linear passes instead of a comparison sort, and a
/// thousand take a few microseconds.
enum QueueOrder {
    /// A sorted queue, kept for the next pass: each entry's sort words, and the order.
    struct Memo {
        fileprivate var words: [UInt64]
        private(set) var order: [Int32]
        /// Whether the order was brought from the last pass's rather than sorted afresh.
        private(set) var merged = false
    }

    /// Sort words being written, entry by entry, and the bits that vary between them.
    struct Words {
        /// words[3i] is compared first, then words[3i+1], then words[3i+2].
        fileprivate var words: [UInt64]
        /// Bits set in some entry's word and clear in another's: the bytes worth sorting on.
        fileprivate var anySet: (UInt64, UInt64, UInt64) = (0, 0, 0)
        fileprivate var allSet: (UInt64, UInt64, UInt64) = (~0, ~0, ~0)

        init(count: Int) {
            self.words = []
            self.words.reserveCapacity(count * 3)
        }

        /// Appends the next entry's words.
        @inline(__always)
        mutating func append(onWorker: Bool, locked: Bool, priority: Int, firstSeenAt seen: Timestamp) {
            let maxPriority: UInt64 = (1 << 62) - 1
            let priority = min(UInt64(clamping: max(0, priority)), maxPriority)
            let rank = (onWorker ? 0 : 1 << 63) | (locked ? 0 : 1 << 62) | (maxPriority - priority)
            let seconds = UInt64(bitPattern: seen.secondsSince1970) ^ (1 << 63)
            let nanoseconds = UInt64(UInt32(bitPattern: seen.nanoseconds))
            self.words.append(rank)
            self.words.append(seconds)
            self.words.append(nanoseconds)
            self.anySet = (self.anySet.0 | rank, self.anySet.1 | seconds, self.anySet.2 | nanoseconds)
            self.allSet = (self.allSet.0 & rank, self.allSet.1 & seconds, self.allSet.2 & nanoseconds)
        }
    }

    /// The scheduling order (entry indices, first to schedule first), from `memo` where it can: when most positions
    /// hold the same sort words as last time (``merged(words:count:memo:)``), those positions keep their relative order, and only the others are sorted
    /// (a comparison sort of a few) and merged in, instead of sorting the whole queue again. The order depends on
    /// nothing but the words and the positions, so it is the same order, ties included, whichever containers the
    /// positions hold. A pass after a change of the pool alone (half of them at a busy cluster) sees the same queue,
    /// a pass after a change of the queue a few changed entries.
    ///
    /// A pass writes the words as it reads each entry for its other fields, in one walk of the queue.
    static func sorted(_ words: Words, reusing memo: Memo?) -> Memo {
        let count = words.words.count / 3
        let (anySet, allSet) = (words.anySet, words.allSet)
        let words = words.words
        if let memo, let merged = Self.merged(words: words, count: count, memo: memo) {
            assert(
                merged == Self.radixSorted(words: words, count: count, anySet: anySet, allSet: allSet),
                "a merged queue order differs from a sorted one"
            )
            return Memo(words: words, order: merged, merged: true)
        }
        return Memo(words: words, order: Self.radixSorted(words: words, count: count, anySet: anySet, allSet: allSet))
    }

    /// The order of `count` entries with sort words `words`, by a least-significant-digit radix sort over the bytes
    /// that vary (`anySet` and `allSet`: the bits set in some entry's word, and in every entry's).
    private static func radixSorted(
        words: [UInt64],
        count: Int,
        anySet: (UInt64, UInt64, UInt64),
        allSet: (UInt64, UInt64, UInt64)
    ) -> [Int32] {
        var order = (0..<Int32(count)).map { $0 }
        guard count > 1 else { return order }
        let varying = [anySet.0 ^ allSet.0, anySet.1 ^ allSet.1, anySet.2 ^ allSet.2]
        var scratch = order
        var histogram = [Int](repeating: 0, count: 256)
        // Least significant first: nanoseconds, then seconds, then the rank word.
        for word in [2, 1, 0] {
            for byte in 0..<8 {
                let shift = UInt64(byte * 8)
                guard (varying[word] >> shift) & 0xFF != 0 else { continue }  // the same in every entry
                words.withUnsafeBufferPointer { words in
                    order.withUnsafeBufferPointer { order in
                        scratch.withUnsafeMutableBufferPointer { scratch in
                            histogram.withUnsafeMutableBufferPointer { histogram in
                                for digit in 0..<256 { histogram[digit] = 0 }
                                for i in 0..<count { histogram[Int((words[3 * i + word] >> shift) & 0xFF)] += 1 }
                                var offset = 0
                                for digit in 0..<256 {
                                    let n = histogram[digit]
                                    histogram[digit] = offset
                                    offset += n
                                }
                                for entry in order {
                                    let digit = Int((words[3 * Int(entry) + word] >> shift) & 0xFF)
                                    scratch[histogram[digit]] = entry
                                    histogram[digit] += 1
                                }
                            }
                        }
                    }
                }
                swap(&order, &scratch)
            }
        }
        return order
    }

    /// How many entries may differ from the memo's for a merge to be worth it rather than a whole sort.
    private static func mergeLimit(count: Int) -> Int { count / 8 }

    /// The order from `memo`: the positions whose words are unchanged keep their order, the others are sorted and
    /// merged in; `nil` when too many words changed.
    ///
    /// The queue adds entries at the end and takes one out by moving its last entry into its place, so a queue that
    /// grew or shrank keeps most positions: those past the memo's count are new (merged in like changed ones), and
    /// the memo's positions past the new count are gone (left out of its order).
    private static func merged(words: [UInt64], count: Int, memo: Memo) -> [Int32]? {
        let memoCount = memo.words.count / 3
        guard count > 1 else { return nil }
        let common = min(count, memoCount)
        var changed: [Int32] = []
        let limit = Self.mergeLimit(count: count)
        guard count - common <= limit else { return nil }
        for i in 0..<common
        where words[3 * i] != memo.words[3 * i]
            || words[3 * i + 1] != memo.words[3 * i + 1] || words[3 * i + 2] != memo.words[3 * i + 2]
        {
            changed.append(Int32(i))
            if changed.count > limit { return nil }
        }
        changed.append(contentsOf: (Int32(common)..<Int32(count)))
        if changed.count > limit { return nil }
        if changed.isEmpty && memoCount == count { return memo.order }
        // The scheduling order between two entries: their words in turn, then their positions.
        func precedes(_ a: Int32, _ b: Int32) -> Bool {
            let x = 3 * Int(a)
            let y = 3 * Int(b)
            if words[x] != words[y] { return words[x] < words[y] }
            if words[x + 1] != words[y + 1] { return words[x + 1] < words[y + 1] }
            if words[x + 2] != words[y + 2] { return words[x + 2] < words[y + 2] }
            return a < b
        }
        var isChanged = [Bool](repeating: false, count: count)
        for i in changed { isChanged[Int(i)] = true }
        changed.sort(by: precedes)
        var order: [Int32] = []
        order.reserveCapacity(count)
        var next = 0
        for entry in memo.order where Int(entry) < count && !isChanged[Int(entry)] {
            while next < changed.count && precedes(changed[next], entry) {
                order.append(changed[next])
                next += 1
            }
            order.append(entry)
        }
        order.append(contentsOf: changed[next...])
        return order
    }
}
