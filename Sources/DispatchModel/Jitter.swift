import Synchronization

/// Where the dispatcher's random jitter comes from (probe spreading, retry backoff): the system's generator,
/// or a seeded one set for a task tree, so that a simulation repeats exactly.
public enum Jitter: Sendable {
    /// The seeded source of the current task tree, if any (`Jitter.$source.withValue(…) { … }`).
    @TaskLocal public static var source: JitterSource?

    /// A random number in `0..<upperBound` (`upperBound` > 0).
    public static func integer(below upperBound: Int64) -> Int64 {
        guard let source = Self.source else { return Int64.random(in: 0..<upperBound) }
        return Int64(source.next() % UInt64(upperBound))
    }

    /// A random fraction in `0..<1`.
    public static func fraction() -> Double {
        guard let source = Self.source else { return Double.random(in: 0..<1) }
        return Double(source.next() >> 11) * 0x1.0p-53
    }
}

/// A seeded sequence of random numbers (SplitMix64) shared by a task tree.
public final class JitterSource: Sendable {
    private let state: Mutex<UInt64>

    public init(seed: UInt64) { self.state = Mutex(seed) }

    func next() -> UInt64 {
        self.state.withLock { state in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
