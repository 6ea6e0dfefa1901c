public import DispatchModel
import Synchronization

/// A clock that moves only when a test advances it, and that lets the test wait until the code under test
/// is asleep on it.
///
/// Sleeps whose deadline has come resume in deadline order when ``advance(by:)`` passes it; a sleep whose
/// deadline is not after ``now`` returns at once without counting as a sleeper. Cancelling a sleeping task
/// ends its sleep with `CancellationError`, also when the cancellation lands before the sleep registered.
public final class ManualClock: Clock, Sendable {
    /// A point on the manual clock: the time advanced since the clock was made.
    public struct Instant: InstantProtocol, CustomStringConvertible {
        /// Time since the clock's start.
        public var offset: Duration

        public init(offset: Duration) { self.offset = offset }

        public func advanced(by duration: Duration) -> Instant { Instant(offset: self.offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - self.offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
        public var description: String { "ManualClock.Instant(\(self.offset))" }
    }

    private struct Sleeper {
        var id: UInt64
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct SleeperWaiter {
        var count: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var waiters: [SleeperWaiter] = []
        var cancelledBeforeSleeping: Set<UInt64> = []
        var nextID: UInt64 = 0
        var totalSleeps = 0

        /// Removes and returns the waiters satisfied by the current number of sleepers.
        mutating func satisfiedWaiters() -> [SleeperWaiter] {
            let count = self.sleepers.count
            let satisfied = self.waiters.filter { $0.count <= count }
            self.waiters.removeAll { $0.count <= count }
            return satisfied
        }
    }

    private let state = Mutex(State())

    /// Makes a clock at offset zero.
    public init() {}

    /// A wall clock that moves with this clock: `epoch` plus the offset now.
    public func wallClock(
        from epoch: Timestamp = Timestamp(secondsSince1970: 1_700_000_000)
    ) -> @Sendable () -> Timestamp {
        { epoch.advanced(by: self.now.offset) }
    }

    public var now: Instant { self.state.withLock { $0.now } }
    public var minimumResolution: Duration { .zero }

    /// The number of tasks asleep on the clock now.
    public var sleeperCount: Int { self.state.withLock { $0.sleepers.count } }
    /// The number of sleeps that ever registered (did not return at once).
    public var totalSleeps: Int { self.state.withLock { $0.totalSleeps } }
    /// The deadlines of the current sleepers, earliest first.
    public var sleeperDeadlines: [Instant] { self.state.withLock { $0.sleepers.map(\.deadline).sorted() } }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = self.state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome {
                    case cancelled
                    case due
                    case asleep([SleeperWaiter])
                }
                let outcome = self.state.withLock { state -> Outcome in
                    if state.cancelledBeforeSleeping.remove(id) != nil { return .cancelled }
                    if deadline <= state.now { return .due }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    state.totalSleeps += 1
                    return .asleep(state.satisfiedWaiters())
                }
                switch outcome {
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .due: continuation.resume()
                case .asleep(let waiters): for waiter in waiters { waiter.continuation.resume() }
                }
            }
        } onCancel: {
            let sleeper = self.state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else {
                    state.cancelledBeforeSleeping.insert(id)
                    return nil
                }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        // A cancellation that landed after the sleep ended left its mark behind; clear it.
        _ = self.state.withLock { $0.cancelledBeforeSleeping.remove(id) }
    }

    /// Suspends until at least `count` tasks are asleep on the clock.
    public func waitForSleepers(_ count: Int = 1) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = self.state.withLock { state in
                if state.sleepers.count >= count { return true }
                state.waiters.append(SleeperWaiter(count: count, continuation: continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Moves the clock forward by `duration` and wakes, in deadline order, every sleeper now due.
    public func advance(by duration: Duration) {
        precondition(duration >= .zero, "a manual clock only moves forward")
        let due = self.state.withLock { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Moves the clock forward to `instant` (no move if it is in the past) and wakes every sleeper now due.
    public func advance(to instant: Instant) {
        self.advance(by: max(.zero, self.now.duration(to: instant)))
    }
}
