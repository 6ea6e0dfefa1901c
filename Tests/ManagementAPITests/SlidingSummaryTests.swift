import ManagementAPI
import Testing

@Suite("Sliding summary")
struct SlidingSummaryTests {
    @Test(
        "Quantiles are nearest-rank over the observations in the window",
        arguments: [
            ([1.0], [1.0, 1.0, 1.0, 1.0]),
            ([3.0, 1.0, 2.0], [2.0, 3.0, 3.0, 3.0]),
            ((1...100).map(Double.init), [50.0, 90.0, 95.0, 99.0]),
            ((1...10).map(Double.init), [5.0, 9.0, 10.0, 10.0]),
        ]
    )
    func quantiles(observations: [Double], expected: [Double]) {
        var summary = SlidingSummary()
        for value in observations.reversed() { summary.observe(value, at: .seconds(1)) }
        let values = summary.quantileValues(at: .seconds(2))
        #expect(values.map(\.quantile) == [0.5, 0.9, 0.95, 0.99])
        #expect(values.map(\.value) == expected)
        #expect(summary.count == UInt64(observations.count))
        #expect(summary.sum == observations.reduce(0, +))
    }

    @Test("Observations leave the quantiles with their age bucket, but stay in the sum and count")
    func window() {
        var summary = SlidingSummary(maxAge: .seconds(600), ageBuckets: 5)
        summary.observe(100, at: .seconds(10))
        summary.observe(1, at: .seconds(300))
        #expect(summary.quantileValues(at: .seconds(400)).first?.value == 1)
        #expect(summary.quantileValues(at: .seconds(400)).last?.value == 100)
        // The first bucket (0–120 s) has left a 600 s window that ends at 600 s.
        #expect(summary.quantileValues(at: .seconds(600)).last?.value == 1)
        #expect(summary.quantileValues(at: .seconds(1000)).allSatisfy { $0.value == nil })
        #expect(summary.count == 2)
        #expect(summary.sum == 101)
    }

    @Test("A full bucket keeps a bounded sample")
    func capacity() {
        var summary = SlidingSummary(bucketCapacity: 10)
        for value in 0..<1000 { summary.observe(Double(value), at: .seconds(1)) }
        let median = summary.quantileValues(at: .seconds(1)).first?.value
        #expect(median != nil)
        #expect(summary.count == 1000)
    }
}
