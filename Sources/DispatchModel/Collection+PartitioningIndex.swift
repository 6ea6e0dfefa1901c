extension RandomAccessCollection {
    /// The index of the first element for which `belongsInSecondPart` is true, or `endIndex` if none is, for a
    /// collection where every element for which it is true comes after every one for which it is false (a binary
    /// search: `log₂(count)` calls).
    ///
    /// Sorted arrays use it to find where a value is or would go, e.g. `sorted.partitioningIndex { $0 >= value }`.
    @inlinable
    public func partitioningIndex(where belongsInSecondPart: (Element) throws -> Bool) rethrows -> Index {
        var low = self.startIndex
        var count = self.count
        while count > 0 {
            let half = count / 2
            let middle = self.index(low, offsetBy: half)
            if try belongsInSecondPart(self[middle]) {
                count = half
            } else {
                low = self.index(after: middle)
                count -= half + 1
            }
        }
        return low
    }
}
