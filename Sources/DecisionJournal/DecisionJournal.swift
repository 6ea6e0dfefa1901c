public import DispatchModel
import Synchronization

/// The decision journal: every decision the dispatcher acted on, kept in a bounded in-memory ring for the
/// live views and handed in batches to a ``JournalStore`` so it survives restarts.
///
/// ``record(_:)`` is what the dispatch path calls (through ``sink``): it numbers the event and appends it to
/// the ring and to the batch waiting for the store, under one lock, and returns. ``JournalWriter`` writes the
/// batches off the dispatch path.
public final class DecisionJournal: Sendable {
    struct State {
        var ring: [JournalEvent] = []
        /// Where the next event goes once the ring is full.
        var ringNext = 0
        var pending: [JournalEvent] = []
        var nextSequence: Int64
        /// Events dropped because the store fell behind by more than ``DecisionJournal/maximumPending``.
        var dropped = 0
    }

    /// How many events the ring keeps.
    public let capacity: Int
    /// How many events may wait for the store; beyond, the oldest waiting are dropped (and counted).
    public let maximumPending: Int
    private let state: Mutex<State>

    /// Makes a journal whose numbering continues after `lastSequence` (the store's last event).
    public init(capacity: Int = 10_000, maximumPending: Int = 100_000, lastSequence: Int64 = 0) {
        self.capacity = max(1, capacity)
        self.maximumPending = max(1, maximumPending)
        self.state = Mutex(State(nextSequence: lastSequence &+ 1))
    }

    /// The sink to inject where decisions are made.
    public var sink: JournalSink {
        JournalSink { [self] event in self.record(event) }
    }

    /// Records an event: numbers it, keeps it in the ring and queues it for the store.
    public func record(_ event: JournalEvent) {
        self.state.withLock { state in
            var event = event
            event.sequence = state.nextSequence
            state.nextSequence &+= 1
            if state.ring.count < self.capacity {
                state.ring.append(event)
            } else {
                state.ring[state.ringNext] = event
                state.ringNext = (state.ringNext + 1) % self.capacity
            }
            if state.pending.count >= self.maximumPending {
                state.pending.removeFirst(state.pending.count - self.maximumPending + 1)
                state.dropped += 1
            }
            state.pending.append(event)
        }
    }

    /// The events in the ring, oldest first.
    public func recent() -> [JournalEvent] {
        self.state.withLock { state in
            Array(state.ring[state.ringNext...] + state.ring[..<state.ringNext])
        }
    }

    /// The ring's events about `subject`, oldest first.
    public func recent(about subject: JournalSubject) -> [JournalEvent] {
        self.recent().filter { subject.matches($0) }
    }

    /// Takes the events waiting for the store, in order.
    func takePending() -> [JournalEvent] {
        self.state.withLock { state in
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
    }

    /// Puts back events the store could not take, ahead of any recorded since.
    func returnPending(_ events: [JournalEvent]) {
        guard !events.isEmpty else { return }
        self.state.withLock { state in
            state.pending = events + state.pending
            if state.pending.count > self.maximumPending {
                state.dropped += state.pending.count - self.maximumPending
                state.pending.removeFirst(state.pending.count - self.maximumPending)
            }
        }
    }

    /// How many events were dropped because the store fell behind.
    public var droppedCount: Int { self.state.withLock { $0.dropped } }
}

/// What a timeline is about: a container or an instance.
public enum JournalSubject: Hashable, Sendable {
    case container(ContainerUUID)
    case instance(InstanceID)

    /// Whether the event is about this subject.
    public func matches(_ event: JournalEvent) -> Bool {
        switch self {
        case .container(let uuid): event.container == uuid
        case .instance(let id): event.instance == id
        }
    }
}
