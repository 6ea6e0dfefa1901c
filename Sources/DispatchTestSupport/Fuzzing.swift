import Foundation

/// How much a fuzzing test does, shared by every fuzzing harness in the suite.
///
/// Each harness has a fixed default seed and case count, small enough that all of them together stay well
/// under two minutes in CI. `DISPATCH_FUZZ_SCALE=N` multiplies every harness's case count by `N` for a longer
/// run, and `DISPATCH_FUZZ_SEED=S` replaces the default seeds (each harness mixes in its own name, so two
/// harnesses never share a sequence). Harnesses print one line with their figures when they finish.
public struct FuzzBudget: Sendable {
    /// The harness's name, used in the printed figures and mixed into the seed.
    public var name: String
    /// Cases to run.
    public var cases: Int
    /// The seed of this run.
    public var seed: UInt64

    /// The budget of the harness `name` with `defaultCases` cases at scale 1.
    public init(name: String, defaultCases: Int, environment: [String: String]? = nil) {
        let environment = environment ?? ProcessInfo.processInfo.environment
        self.name = name
        let scale = environment["DISPATCH_FUZZ_SCALE"].flatMap { Int($0) }.map { max($0, 1) } ?? 1
        self.cases = defaultCases.multipliedReportingOverflow(by: scale).overflow ? Int.max : defaultCases * scale
        let base = environment["DISPATCH_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED_D15C_A7C4
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        self.seed = base ^ hash
    }

    /// A generator for this run.
    public func generator() -> FuzzRandom { FuzzRandom(seed: self.seed) }

    /// Runs `body` once per case, with one generator for the whole run, then prints the harness's figures.
    public func run(_ body: (inout FuzzRandom) -> Void) {
        var random = self.generator()
        let clock = ContinuousClock()
        let started = clock.now
        for _ in 0..<self.cases { body(&random) }
        self.report(cases: self.cases, elapsed: started.duration(to: clock.now))
    }

    /// Prints the harness's figures (cases, elapsed time, seed) as one line, for CI logs and closing notes.
    public func report(cases ran: Int, elapsed: Duration, extra: String = "") {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let line =
            "fuzz \(self.name): \(ran) cases in \(String(format: "%.2f", seconds)) s, seed \(self.seed)"
            + (extra.isEmpty ? "" : ", \(extra)")
        print(line)
    }
}

/// A small seeded generator (SplitMix64) with helpers for building hostile input.
public struct FuzzRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { self.state = seed }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// One of `choices`.
    public mutating func pick<T>(_ choices: [T]) -> T { choices[Int.random(in: 0..<choices.count, using: &self)] }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }

    /// An integer biased towards the edges that break arithmetic: 0, ±1, powers of two, Int64's extremes.
    public mutating func edgyInt64() -> Int64 {
        switch Int.random(in: 0..<8, using: &self) {
        case 0: return self.pick([0, 1, -1, Int64.max, Int64.min, Int64.max - 1, Int64.min + 1])
        case 1: return Int64(1) << Int64.random(in: 0...62, using: &self)
        case 2: return -(Int64(1) << Int64.random(in: 0...62, using: &self))
        case 3: return Int64.max - Int64.random(in: 0...(1 << 40), using: &self)
        case 4: return Int64.random(in: -1000...1000, using: &self)
        default: return Int64.random(in: Int64.min...Int64.max, using: &self)
        }
    }

    /// A string of up to `maxLength` characters mixing ASCII, control characters, quotes and non-ASCII text.
    public mutating func hostileString(maxLength: Int = 40) -> String {
        let alphabet: [String] = [
            "a", "z", "0", "9", "-", "_", "%", "'", "\"", "\\", "/", ".", ":", "{", "}", "[", "]", ",", " ",
            "\u{0}", "\n", "\r", "\t", "é", "💥", "\u{FFFD}", "&", "=", "?", "#", "+",
        ]
        let length = Int.random(in: 0...maxLength, using: &self)
        var result = ""
        for _ in 0..<length { result += self.pick(alphabet) }
        return result
    }
}
