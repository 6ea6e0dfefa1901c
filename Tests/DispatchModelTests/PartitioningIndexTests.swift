import DispatchModel
import Testing

@Suite("Binary search for a partition point")
struct PartitioningIndexTests {
    /// Every split of sorted arrays of every length up to 40, with repeated values, against a linear search.
    @Test func agreesWithLinearSearchOnSortedArrays() {
        for count in 0...40 {
            let values = (0..<count).map { ($0 &* 2_654_435_761 &+ count) % 12 }.sorted()
            for pivot in -1...13 {
                let expected = values.firstIndex { $0 >= pivot } ?? values.endIndex
                #expect(values.partitioningIndex { $0 >= pivot } == expected, "\(values) >= \(pivot)")
                let after = values.firstIndex { $0 > pivot } ?? values.endIndex
                #expect(values.partitioningIndex { $0 > pivot } == after, "\(values) > \(pivot)")
            }
        }
    }

    /// A slice keeps its parent's indices: the answer is an index of the slice, not an offset into it.
    @Test func answersInTheSlicesOwnIndices() {
        let values = Array(0..<100)
        let slice = values[30..<60]
        #expect(slice.partitioningIndex { $0 >= 45 } == 45)
        #expect(slice.partitioningIndex { $0 >= 0 } == 30)
        #expect(slice.partitioningIndex { $0 >= 1000 } == 60)
        #expect([Int]().partitioningIndex { _ in true } == 0)
    }

    /// The extreme values of a type are searched without arithmetic on them (no `value + 1`).
    @Test func searchesForTheExtremes() {
        let values: [Int64] = [.min, -1, 0, 1, .max, .max]
        #expect(values.partitioningIndex { $0 >= .max } == 4)
        #expect(values.partitioningIndex { $0 > .max } == 6)
        #expect(values.partitioningIndex { $0 >= .min } == 0)
        #expect(values.partitioningIndex { $0 > .min } == 1)
    }
}
