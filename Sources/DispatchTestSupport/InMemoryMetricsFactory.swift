public import CoreMetrics
import Synchronization

/// A metrics backend that keeps every value in memory, so tests can read back what code recorded.
///
/// Pass it as the `factory` of a metric (or to the code under test); never bootstrap it globally in tests
/// that run in parallel.
public final class InMemoryMetricsFactory: MetricsFactory, Sendable {
    /// A metric's identity: label plus dimensions, order-independent.
    public struct Key: Hashable, Sendable, CustomStringConvertible {
        public var label: String
        public var dimensions: [String: String]

        public init(label: String, dimensions: [String: String] = [:]) {
            self.label = label
            self.dimensions = dimensions
        }

        init(label: String, dimensions: [(String, String)]) {
            self.label = label
            self.dimensions = Dictionary(dimensions, uniquingKeysWith: { _, last in last })
        }

        public var description: String {
            let dimensions = self.dimensions.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            return "\(self.label){\(dimensions.joined(separator: ","))}"
        }
    }

    private let counters = Mutex<[Key: InMemoryCounter]>([:])
    private let recorders = Mutex<[Key: InMemoryRecorder]>([:])
    private let timers = Mutex<[Key: InMemoryTimer]>([:])

    public init() {}

    /// The value of the counter `label` with exactly `dimensions`, or `nil` if no such counter was made.
    public func counterValue(_ label: String, _ dimensions: [String: String] = [:]) -> Int64? {
        self.counters.withLock { $0[Key(label: label, dimensions: dimensions)] }?.value
    }

    /// Every counter made so far and its value.
    public var counterValues: [Key: Int64] {
        self.counters.withLock { $0 }.mapValues(\.value)
    }

    /// Every counter, recorder (gauge) and timer made so far, by label and dimensions.
    public var allKeys: Set<Key> {
        Set(
            self.counters.withLock { Array($0.keys) } + self.recorders.withLock { Array($0.keys) }
                + self.timers.withLock { Array($0.keys) }
        )
    }

    /// The last value recorded (or set) on the recorder or gauge `label` with `dimensions`.
    public func lastRecordedValue(_ label: String, _ dimensions: [String: String] = [:]) -> Double? {
        self.recorders.withLock { $0[Key(label: label, dimensions: dimensions)] }?.lastValue
    }

    /// Every duration recorded by the timer `label` with `dimensions`, in nanoseconds.
    public func timerValues(_ label: String, _ dimensions: [String: String] = [:]) -> [Int64] {
        self.timers.withLock { $0[Key(label: label, dimensions: dimensions)] }?.values ?? []
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let key = Key(label: label, dimensions: dimensions)
        return self.counters.withLock { counters in
            if let existing = counters[key] { return existing }
            let counter = InMemoryCounter()
            counters[key] = counter
            return counter
        }
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let key = Key(label: label, dimensions: dimensions)
        return self.recorders.withLock { recorders in
            if let existing = recorders[key] { return existing }
            let recorder = InMemoryRecorder()
            recorders[key] = recorder
            return recorder
        }
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let key = Key(label: label, dimensions: dimensions)
        return self.timers.withLock { timers in
            if let existing = timers[key] { return existing }
            let timer = InMemoryTimer()
            timers[key] = timer
            return timer
        }
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        self.counters.withLock { $0 = $0.filter { $0.value !== handler } }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        self.recorders.withLock { $0 = $0.filter { $0.value !== handler } }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        self.timers.withLock { $0 = $0.filter { $0.value !== handler } }
    }
}

private final class InMemoryCounter: CounterHandler, Sendable {
    private let storage = Mutex<Int64>(0)
    var value: Int64 { self.storage.withLock { $0 } }
    func increment(by amount: Int64) { self.storage.withLock { $0 += amount } }
    func reset() { self.storage.withLock { $0 = 0 } }
}

private final class InMemoryRecorder: RecorderHandler, Sendable {
    private let storage = Mutex<Double?>(nil)
    var lastValue: Double? { self.storage.withLock { $0 } }
    func record(_ value: Int64) { self.storage.withLock { $0 = Double(value) } }
    func record(_ value: Double) { self.storage.withLock { $0 = value } }
}

private final class InMemoryTimer: TimerHandler, Sendable {
    private let storage = Mutex<[Int64]>([])
    var values: [Int64] { self.storage.withLock { $0 } }
    func recordNanoseconds(_ duration: Int64) { self.storage.withLock { $0.append(duration) } }
}
