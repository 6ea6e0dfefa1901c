import Synchronization

/// The clock of a simulation: its time moves only when everything that runs on the simulation's executor is
/// waiting, and then straight to the next deadline (``SimulationExecutor`` moves it).
///
/// Sleepers wake in deadline order, those with the same deadline in the order they went to sleep, so a run
/// that makes the same calls wakes the same tasks in the same order. A sleep whose deadline has come returns
/// at once; cancelling a sleeping task ends its sleep with `CancellationError`.
public final class VirtualClock: Clock, Sendable {
    /// A point in simulated time: the time since the simulation started.
    public struct Instant: InstantProtocol, CustomStringConvertible {
        public var offset: Duration

        public init(offset: Duration) { self.offset = offset }

        public func advanced(by duration: Duration) -> Instant { Instant(offset: self.offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - self.offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
        public var description: String { "\(self.offset)" }
    }

    struct Sleeper {
        var deadline: Instant
        var id: UInt64

        func isBefore(_ other: Sleeper) -> Bool {
            self.deadline < other.deadline || (self.deadline == other.deadline && self.id < other.id)
        }
    }

    struct State {
        var now = Instant(offset: .zero)
        var heap = SleeperHeap()
        /// Sleepers by id, for cancellation; the heap entry of a cancelled sleeper is skipped when popped.
        var waiting: [UInt64: CheckedContinuation<Void, any Error>] = [:]
        var cancelledEarly: Set<UInt64> = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    /// ``now``, readable without taking the lock (the simulation reads it several times for every probe): its two
    /// components, written only while the lock is held, under a sequence number that is odd during a write, so a
    /// reader retries a read that overlapped one.
    private let nowSequence = Atomic<UInt64>(0)
    private let nowSeconds = Atomic<Int64>(0)
    private let nowAttoseconds = Atomic<Int64>(0)

    public init() {}

    public var now: Instant {
        let (seconds, attoseconds) = self.nowComponents
        return Instant(offset: Duration(secondsComponent: seconds, attosecondsComponent: attoseconds))
    }

    /// ``now``'s offset as its components (`Duration.components`), read as they are kept: what a wall clock built on
    /// this one needs, without the 128-bit arithmetic of making a `Duration` and taking it apart again.
    public var nowComponents: (seconds: Int64, attoseconds: Int64) {
        while true {
            let before = self.nowSequence.load(ordering: .acquiring)
            let seconds = self.nowSeconds.load(ordering: .relaxed)
            let attoseconds = self.nowAttoseconds.load(ordering: .relaxed)
            atomicMemoryFence(ordering: .acquiring)
            if before & 1 == 0 && self.nowSequence.load(ordering: .relaxed) == before { return (seconds, attoseconds) }
        }
    }

    /// Publishes `now` for ``now``; called with the lock held.
    private func publish(_ now: Instant) {
        let sequence = self.nowSequence.load(ordering: .relaxed)
        self.nowSequence.store(sequence &+ 1, ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
        let (seconds, attoseconds) = now.offset.components
        self.nowSeconds.store(seconds, ordering: .relaxed)
        self.nowAttoseconds.store(attoseconds, ordering: .relaxed)
        self.nowSequence.store(sequence &+ 2, ordering: .releasing)
    }

    public var minimumResolution: Duration { .zero }

    /// The number of tasks asleep now.
    public var sleeperCount: Int { self.state.withLock { $0.waiting.count } }

    /// The number of sleeps begun so far (a measure of the simulation's work).
    public var sleepCount: UInt64 { self.state.withLock { $0.nextID } }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = self.state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case cancelled, due, asleep }
                let outcome = self.state.withLock { state -> Outcome in
                    if state.cancelledEarly.remove(id) != nil { return .cancelled }
                    if deadline <= state.now { return .due }
                    state.waiting[id] = continuation
                    state.heap.insert(Sleeper(deadline: deadline, id: id))
                    return .asleep
                }
                switch outcome {
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .due: continuation.resume()
                case .asleep: break
                }
            }
        } onCancel: {
            let continuation = self.state.withLock { state in
                guard let continuation = state.waiting.removeValue(forKey: id) else {
                    state.cancelledEarly.insert(id)
                    return CheckedContinuation<Void, any Error>?.none
                }
                return continuation
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// The earliest deadline of a sleeper, if any sleeps.
    public var nextDeadline: Instant? {
        self.state.withLock { state in
            while let first = state.heap.first, state.waiting[first.id] == nil { state.heap.removeFirst() }
            return state.heap.first?.deadline
        }
    }

    /// Moves the time to the earliest sleeper's deadline (never backwards) and wakes every sleeper due then,
    /// in order; returns `false`, without moving, when nobody sleeps.
    @discardableResult
    public func advanceToNextDeadline() -> Bool {
        let woken = self.state.withLock { state -> [CheckedContinuation<Void, any Error>]? in
            while let first = state.heap.first, state.waiting[first.id] == nil { state.heap.removeFirst() }
            guard let first = state.heap.first else { return nil }
            if state.now < first.deadline {
                state.now = first.deadline
                self.publish(state.now)
            }
            var woken: [CheckedContinuation<Void, any Error>] = []
            while let next = state.heap.first, next.deadline <= state.now {
                state.heap.removeFirst()
                if let continuation = state.waiting.removeValue(forKey: next.id) { woken.append(continuation) }
            }
            return woken
        }
        guard let woken else { return false }
        for continuation in woken { continuation.resume() }
        return true
    }
}

/// A binary min-heap of sleepers by (deadline, id).
struct SleeperHeap {
    private var items: [VirtualClock.Sleeper] = []

    var first: VirtualClock.Sleeper? { self.items.first }
    var count: Int { self.items.count }

    mutating func insert(_ sleeper: VirtualClock.Sleeper) {
        self.items.append(sleeper)
        var child = self.items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.items[child].isBefore(self.items[parent]) else { break }
            self.items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func removeFirst() {
        guard !self.items.isEmpty else { return }
        self.items.swapAt(0, self.items.count - 1)
        self.items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < self.items.count, self.items[left].isBefore(self.items[smallest]) { smallest = left }
            if right < self.items.count, self.items[right].isBefore(self.items[smallest]) { smallest = right }
            guard smallest != parent else { return }
            self.items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
