public import ArvadosAPI
public import DispatchModel
import Foundation
public import Logging
public import Metrics
public import ServiceLifecycle
import Synchronization

/// A cached, race-safe view of the containers this dispatcher cares about: those it has locked, and the
/// highest-priority Queued ones (reference §3.2).
///
/// The queue polls the API every `pollInterval` (or longer, when a poll takes longer), works out each new
/// container's instance types once, and cancels containers no configured type can run. Lock, unlock and cancel
/// go through the queue so that the cache reflects them at once and a poll that began before them cannot undo
/// them. Subscribers are told of every change; bursts coalesce.
public actor ContainerQueue<C: Clock>: Service where C.Duration == Duration {
    /// Settings; defaults are Arvados's.
    public struct Configuration: Sendable {
        /// `Containers.CloudVMs.PollInterval`: the shortest time between polls.
        public var pollInterval: Duration = .seconds(10)
        /// Stop fetching Queued containers once this many non-supervisor ones are in hand.
        public var queuedTarget = 100
        /// Page size of list calls.
        public var pageSize = 1000
        /// The longest wait between polls while they keep failing; the wait doubles from `pollInterval`.
        public var maxPollRetryInterval: Duration = .seconds(60)
        /// The shortest time between two log lines about failing polls.
        public var failureLogInterval: Duration = .seconds(60)
        /// Whether every committed change reaches ``ContainerQueue/applyPushed(_:complete:)``: an embedded API's
        /// change feed, subscribed before the first poll (it never drops a change, and the embedded API deletes
        /// no container). A poll then keeps each cached Queued container that neither list returned as the pushes
        /// left it, instead of asking for it again by UUID: the Queued list stops at ``queuedTarget``, so at
        /// 100,000 queued that was about 5,000 requests a poll, which kept the API busy and the locks waiting.
        ///
        /// After the first poll, a poll then asks only for the containers modified since one second before the last
        /// poll that succeeded began (``pushedChangeMargin``), and keeps every cached container it does not return
        /// as the pushes left it: the pushes have brought every change already, so the poll is a check that costs
        /// what changed rather than a read of every Locked and Running container (at a thousand instances, a fifth of
        /// a simulated day's work).
        public var pushesAreComplete = false
        /// How far before the last successful poll's start a poll over complete pushes looks for modified containers.
        public var pushedChangeMargin: Duration = .seconds(1)

        public init() {}
    }

    /// The attributes polled; `mounts` is fetched separately, once per container.
    static var polledAttributes: [String] {
        [
            "uuid", "state", "priority", "runtime_constraints", "container_image", "scheduling_parameters",
            "created_at", "locked_by_uuid", "modified_at",
        ]
    }

    let client: ArvadosClient
    let chooser: InstanceTypeChooser
    let configuration: Configuration
    public nonisolated let clock: C
    /// The wall clock the queue reads where things happen (a poll begins, a 503 arrives, a container is first
    /// seen); a push stamps its batch with it too (``applyPushed(_:complete:)``).
    public nonisolated let wallClock: @Sendable () -> Timestamp
    let logger: Logger
    let metricsFactory: any MetricsFactory

    var current = Entries()
    /// Containers changed locally since the poll in progress began; its results for them are stale.
    var dontUpdate: Set<ContainerUUID>?
    var authorizationUUID: String?
    /// When the last update that the cache reflects began, read from ``wallClock`` then.
    var updatedAt: Timestamp?
    /// When the last poll that succeeded began, read from ``wallClock`` then: with complete pushes, the next poll
    /// asks only for the containers modified since shortly before (``Configuration-swift.struct/pushesAreComplete``).
    var lastPollStarted: Timestamp?
    var lastServiceUnavailable: C.Instant?
    /// The wall-clock time of ``lastServiceUnavailable``, read once when the 503 came, so every reader sees
    /// the same value (converting the instant again at each pass would make clock jitter look like a new 503).
    var lastServiceUnavailableAt: Timestamp?
    /// Behind a mutex, not the actor, so that a subscription's end (a synchronous callback) removes it at once.
    private let subscribers = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])
    /// Pushed containers no instance type can run, for ``run()`` to cancel as children of its task group (so that
    /// a shutdown waits for the cancels in flight); those pushed before `run()` starts wait for it.
    let pushedUnsatisfiable: AsyncStream<(container: Container, reason: String)>
    let pushedUnsatisfiableContinuation: AsyncStream<(container: Container, reason: String)>.Continuation
    /// The `queue_entries` values last reported, so only changed ones are set again.
    var reportedEntryCounts: [Entries.CountKey: Int] = [:]
    /// Failed polls, for rate-limited logging.
    var pollFailures: RepeatedFailureLog<C.Instant>
    /// How many times subscribers were told of a change; tests count scheduler wake-ups with it.
    private(set) var notifications = 0

    public init(
        client: ArvadosClient,
        chooser: InstanceTypeChooser,
        configuration: Configuration = .init(),
        clock: C,
        wallClock: @escaping @Sendable () -> Timestamp = Timestamp.now,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.metricsFactory = metricsFactory
        self.client = client
        self.chooser = chooser
        self.configuration = configuration
        self.clock = clock
        self.wallClock = wallClock
        self.logger = logger
        self.pollFailures = RepeatedFailureLog(interval: configuration.failureLogInterval)
        (self.pushedUnsatisfiable, self.pushedUnsatisfiableContinuation) = AsyncStream.makeStream(
            of: (container: Container, reason: String).self
        )
    }

    // MARK: - Reading

    /// Every cached entry, and the wall-clock time the update that produced them began.
    ///
    /// A container that a runner reports exited before `threshold` and is still listed here as Running was
    /// not updated by the runner: the scheduler may act on that.
    public func entries() -> (entries: [ContainerUUID: QueueEntry], threshold: Timestamp?) {
        (self.current.byUUID, self.updatedAt)
    }

    /// Every cached entry as a list, with a version that moves whenever an entry changes, and the wall-clock time
    /// the update that produced them began: what a scheduling pass reads.
    ///
    /// The queue's own list, shared with the pass: the queue's next changes copy only the chunks they touch
    /// (``DispatchModel/QueueEntryList``). Not the cache's dictionary, which the next change would copy whole
    /// (at 100,000 entries, with the copy's release, a tenth of the dispatcher's time), nor an array of it made
    /// per version (a sixth).
    public func schedulingEntries() -> (entries: QueueEntryList, version: UInt64, threshold: Timestamp?) {
        (self.current.list, self.current.version, self.updatedAt)
    }

    /// One entry.
    public func entry(_ uuid: ContainerUUID) -> QueueEntry? { self.current[uuid] }

    /// When the API last answered 503; the scheduler lowers its container limit after one.
    public func last503() -> C.Instant? { self.lastServiceUnavailable }

    /// When the API last answered 503, wall clock, as read when the answer came; the same value until the next.
    public func last503Timestamp() -> Timestamp? { self.lastServiceUnavailableAt }

    /// A stream that yields after every change; a slow reader sees one pending notification, not a backlog.
    public func subscribe() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        self.subscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { _ in self.subscribers.withLock { $0[id] = nil } }
        return stream
    }

    /// The subscriptions not ended yet (for tests).
    nonisolated var subscriberCount: Int { self.subscribers.withLock { $0.count } }

    /// Caches `entry`, replacing what the cache held for its container; the container's mounts are dropped
    /// (the cache keeps none: they only serve to choose the types, and each record would hold them for good).
    func store(_ entry: QueueEntry) {
        var entry = entry
        // Only a record that still has mounts is copied (a new shared record) without them.
        if !entry.container.mounts.isEmpty { entry.container.mounts = [:] }
        self.current[entry.uuid] = entry
    }

    func notify() {
        self.notifications &+= 1
        self.subscribers.withLock { subscribers in
            for continuation in subscribers.values { continuation.yield() }
        }
        self.reportMetrics()
    }
}

extension ContainerQueue {
    /// The cached entries, with their number per state and first instance type kept up to date on every
    /// change: the `queue_entries` gauge then costs a few dictionary reads per change, not a pass over the queue.
    struct Entries {
        struct CountKey: Hashable {
            var state: ContainerState
            var instanceType: String

            init(_ entry: QueueEntry) {
                self.state = entry.container.state
                self.instanceType = entry.instanceTypes.first?.name.rawValue ?? ""
            }
        }

        private(set) var byUUID: [ContainerUUID: QueueEntry] = [:]
        /// The same entries, for passes (``ContainerQueue/schedulingEntries()``), and where each is in it. A
        /// removal moves the last entry into the gap, so the others keep their places from pass to pass.
        private(set) var list = QueueEntryList()
        private var positions: [ContainerUUID: Int] = [:]
        private(set) var counts: [CountKey: Int] = [:]
        /// Moves at every change.
        private(set) var version: UInt64 = 0

        subscript(uuid: ContainerUUID) -> QueueEntry? {
            get { self.byUUID[uuid] }
            set {
                if let old = self.byUUID[uuid] {
                    let key = CountKey(old)
                    let remaining = (self.counts[key] ?? 1) - 1
                    self.counts[key] = remaining > 0 ? remaining : nil
                }
                if let newValue { self.counts[CountKey(newValue), default: 0] += 1 }
                self.byUUID[uuid] = newValue
                if let newValue {
                    if let position = self.positions[uuid] {
                        self.list[position] = newValue
                    } else {
                        self.positions[uuid] = self.list.count
                        self.list.append(newValue)
                    }
                } else if let position = self.positions.removeValue(forKey: uuid),
                    let moved = self.list.removeMovingLast(at: position)
                {
                    self.positions[moved.uuid] = position
                }
                self.version &+= 1
            }
        }
    }
}
