import DispatchModel

/// The scheduling order of a queue, computed with a stable radix sort.
///
/// The order is: on a worker first, then Locked before Queued, then priority descending, then first
/// seen, then snapshot position. Each entry gets three 64-bit words compared in turn; a least-significant-
/// digit radix sort over their bytes is stable, so equal words keep snapshot order. Bytes that are the
/// same for every entry (most of them: priorities and timestamps vary in a few low bytes) are skipped, so
/// 100,000 entries take a handful of linear passes instead of a comparison sort.
enum QueueOrder {
    /// The scheduling order: entry indices, first to schedule first.
    static func sorted(
        count: Int,
        onWorker: (Int) -> Bool,
        locked: (Int) -> Bool,
        priority: (Int) -> Int,
        firstSeenAt: (Int) -> Timestamp
    ) -> [Int32] {
        // words[3i] is compared first, then words[3i+1], then words[3i+2].
        var words = [UInt64](repeating: 0, count: count * 3)
        let maxPriority: UInt64 = (1 << 62) - 1
        for i in 0..<count {
            let priority = min(UInt64(clamping: max(0, priority(i))), maxPriority)
            words[3 * i] =
                (onWorker(i) ? 0 : 1 << 63) | (locked(i) ? 0 : 1 << 62) | (maxPriority - priority)
            let seen = firstSeenAt(i)
            words[3 * i + 1] = UInt64(bitPattern: seen.secondsSince1970) ^ (1 << 63)
            words[3 * i + 2] = UInt64(UInt32(bitPattern: seen.nanoseconds))
        }
        var order = (0..<Int32(count)).map { $0 }
        guard count > 1 else { return order }
        var scratch = order
        // Least significant first: nanoseconds, then seconds, then the rank word.
        for word in [2, 1, 0] {
            for byte in 0..<8 {
                let shift = UInt64(byte * 8)
                var histogram = [Int](repeating: 0, count: 256)
                for i in 0..<count { histogram[Int((words[3 * i + word] >> shift) & 0xFF)] += 1 }
                if histogram.contains(count) { continue }  // every entry has this byte: nothing to do
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
                swap(&order, &scratch)
            }
        }
        return order
    }
}
