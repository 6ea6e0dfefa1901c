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
    /// The scheduling order: entry indices, first to schedule first.
    static func sorted(
        count: Int,
        onWorker: (Int) -> Bool,
        locked: (Int) -> Bool,
        priority: (Int) -> Int,
        firstSeenAt: (Int) -> Timestamp
    ) -> [Int32] {
        var order = (0..<Int32(count)).map { $0 }
        guard count > 1 else { return order }
        // words[3i] is compared first, then words[3i+1], then words[3i+2].
        var words = [UInt64](repeating: 0, count: count * 3)
        let maxPriority: UInt64 = (1 << 62) - 1
        // Bits set in some entry's word and clear in another's: the bytes worth sorting on.
        var anySet: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var allSet: (UInt64, UInt64, UInt64) = (~0, ~0, ~0)
        words.withUnsafeMutableBufferPointer { words in
            for i in 0..<count {
                let priority = min(UInt64(clamping: max(0, priority(i))), maxPriority)
                let rank = (onWorker(i) ? 0 : 1 << 63) | (locked(i) ? 0 : 1 << 62) | (maxPriority - priority)
                let seen = firstSeenAt(i)
                let seconds = UInt64(bitPattern: seen.secondsSince1970) ^ (1 << 63)
                let nanoseconds = UInt64(UInt32(bitPattern: seen.nanoseconds))
                words[3 * i] = rank
                words[3 * i + 1] = seconds
                words[3 * i + 2] = nanoseconds
                anySet = (anySet.0 | rank, anySet.1 | seconds, anySet.2 | nanoseconds)
                allSet = (allSet.0 & rank, allSet.1 & seconds, allSet.2 & nanoseconds)
            }
        }
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
}
