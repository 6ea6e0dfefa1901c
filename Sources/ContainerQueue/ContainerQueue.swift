public import ArvadosAPI
public import DispatchModel
import Foundation
public import Logging
public import Metrics
public import ServiceLifecycle

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

        public init() {}
    }

    /// The attributes polled; `mounts` is fetched separately, once per container.
    static var polledAttributes: [String] {
        [
            "uuid", "state", "priority", "runtime_constraints", "container_image", "scheduling_parameters",
            "created_at", "locked_by_uuid",
        ]
    }

    private let client: ArvadosClient
    private let chooser: InstanceTypeChooser
    private let configuration: Configuration
    public nonisolated let clock: C
    /// The wall clock the queue reads where things happen (a poll begins, a 503 arrives, a container is first
    /// seen); a push stamps its batch with it too (``applyPushed(_:complete:)``).
    public nonisolated let wallClock: @Sendable () -> Timestamp
    private let logger: Logger
    private let metricsFactory: any MetricsFactory

    private var current = Entries()
    /// ``current`` as an array, for ``schedulingEntries()``, as of a version.
    private var entryList: (version: UInt64, entries: [QueueEntry])?
    /// Containers changed locally since the poll in progress began; its results for them are stale.
    private var dontUpdate: Set<ContainerUUID>?
    private var authorizationUUID: String?
    /// When the last update that the cache reflects began, read from ``wallClock`` then.
    private var updatedAt: Timestamp?
    private var lastServiceUnavailable: C.Instant?
    /// The wall-clock time of ``lastServiceUnavailable``, read once when the 503 came, so every reader sees
    /// the same value (converting the instant again at each pass would make clock jitter look like a new 503).
    private var lastServiceUnavailableAt: Timestamp?
    private var subscribers: [UUID: AsyncStream<Void>.Continuation] = [:]
    /// The `queue_entries` values last reported, so only changed ones are set again.
    private var reportedEntryCounts: [Entries.CountKey: Int] = [:]
    /// The polling loop's pause in progress, resumed early by ``requestUpdate()``.
    private var pauseWaiter: CheckedContinuation<Void, Never>?
    private var pauseGeneration: UInt64 = 0
    /// An update was requested while none could start: the next pause is skipped.
    private var updateRequested = false
    /// Whether ``requestUpdate()`` may end the pause in progress; not while backing off failed polls.
    private var pauseInterruptible = true
    /// Graceful shutdown began: no more pauses.
    private var shuttingDown = false
    /// Failed polls, for rate-limited logging.
    private var pollFailures: RepeatedFailureLog<C.Instant>
    /// How many times subscribers were told of a change; tests count scheduler wake-ups with it.
    private(set) var notifications = 0
    /// Runs between fetching and merging; tests use it to race a lock against a poll.
    var afterPollForTesting: (@Sendable () async -> Void)?

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
    }

    // MARK: - Reading

    /// Every cached entry, and the wall-clock time the update that produced them began.
    ///
    /// A container that a runner reports exited before `threshold` and is still listed here as Running was
    /// not updated by the runner: the scheduler may act on that.
    public func entries() -> (entries: [ContainerUUID: QueueEntry], threshold: Timestamp?) {
        (self.current.byUUID, self.updatedAt)
    }

    /// Every cached entry as an array, with a version that moves whenever an entry changes (the array is
    /// rebuilt only then), and the wall-clock time the update that produced them began: what a scheduling pass
    /// reads.
    public func schedulingEntries() -> (entries: [QueueEntry], version: UInt64, threshold: Timestamp?) {
        let version = self.current.version
        if let list = self.entryList, list.version == version {
            return (list.entries, version, self.updatedAt)
        }
        let entries = Array(self.current.byUUID.values)
        self.entryList = (version, entries)
        return (entries, version, self.updatedAt)
    }

    /// One entry.
    public func entry(_ uuid: ContainerUUID) -> QueueEntry? { self.current[uuid] }

    /// When the API last answered 503; the scheduler lowers its container limit after one.
    public func last503() -> C.Instant? { self.lastServiceUnavailable }

    /// When the API last answered 503, wall clock, as read when the answer came; the same value until the next.
    public func last503Timestamp() -> Timestamp? { self.lastServiceUnavailableAt }

    func setAfterPollForTesting(_ hook: (@Sendable () async -> Void)?) { self.afterPollForTesting = hook }

    /// A stream that yields after every change; a slow reader sees one pending notification, not a backlog.
    public func subscribe() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        self.subscribers[id] = continuation
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        return stream
    }

    private func unsubscribe(_ id: UUID) { self.subscribers[id] = nil }

    private func notify() {
        self.notifications &+= 1
        for continuation in self.subscribers.values { continuation.yield() }
        self.reportMetrics()
    }

    // MARK: - Polling

    /// Polls until graceful shutdown: an update, then a pause of `pollInterval` or the update's own duration,
    /// whichever is longer, cut short by ``requestUpdate()``.
    ///
    /// Failed updates are retried after a pause that doubles from `pollInterval` up to
    /// `maxPollRetryInterval`, with jitter, and that requests do not cut short, so an API that keeps failing
    /// is not asked again at every push; they are logged at most once per `failureLogInterval`, with a count.
    public func run() async throws {
        var backoff = RetryBackoff(
            initial: self.configuration.pollInterval,
            maximum: max(self.configuration.pollInterval, self.configuration.maxPollRetryInterval)
        )
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let started = self.clock.now
                do {
                    try await self.update()
                    backoff.succeeded()
                    if let line = self.pollFailures.succeeded(at: self.clock.now) {
                        self.logger.warning(
                            "Queue update succeeded after failing",
                            metadata: ["failures": "\(line.count)", "error": "\(line.lastError)"]
                        )
                    }
                    let took = started.duration(to: self.clock.now)
                    await self.pause(max(self.configuration.pollInterval, took))
                } catch {
                    let delay = max(self.configuration.pollInterval, backoff.failed())
                    if let line = self.pollFailures.failed("\(error)", at: self.clock.now) {
                        self.logger.warning(
                            "Queue update \(line)",
                            metadata: ["failures": "\(line.count)", "retry.delay": "\(delay)"]
                        )
                    }
                    let took = started.duration(to: self.clock.now)
                    await self.pause(max(delay, took), interruptible: false)
                }
            }
        } onGracefulShutdown: {
            Task { await self.stopPausing() }
        }
    }

    /// Asks the polling loop for an update now (or right after the one in progress): the embedded API calls
    /// this when a container is created or changed, so new work is seen without waiting for the poll. While
    /// failed polls are backed off, the update waits for the end of the pause.
    public func requestUpdate() {
        self.logger.debug("Queue update requested", metadata: ["queue.paused": "\(self.pauseWaiter != nil)"])
        if self.pauseInterruptible, let waiter = self.pauseWaiter {
            self.pauseWaiter = nil
            waiter.resume()
        } else {
            self.updateRequested = true
        }
    }

    /// Ends the pause in progress, and every later one: graceful shutdown.
    private func stopPausing() {
        self.shuttingDown = true
        self.endPause(nil)
    }

    /// Waits `interval`, or less if the task is cancelled, shutdown begins or (if `interruptible`) an update is
    /// requested.
    private func pause(_ interval: Duration, interruptible: Bool = true) async {
        if self.shuttingDown { return }
        if interruptible && self.updateRequested {
            self.updateRequested = false
            return
        }
        self.pauseInterruptible = interruptible
        defer { self.pauseInterruptible = true }
        self.pauseGeneration &+= 1
        let generation = self.pauseGeneration
        let clock = self.clock
        // The timer is a child task, on the caller's executor (a simulation's clock sees it asleep at once).
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await clock.sleep(for: interval)
                await self.endPause(generation)
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    if Task.isCancelled {
                        continuation.resume()
                    } else {
                        self.pauseWaiter = continuation
                    }
                }
            } onCancel: {
                Task { await self.endPause(nil) }
            }
            group.cancelAll()
        }
    }

    /// Ends the pause of `generation` (`nil`: whichever is in progress).
    private func endPause(_ generation: UInt64?) {
        if let generation, generation != self.pauseGeneration { return }
        if let waiter = self.pauseWaiter {
            self.pauseWaiter = nil
            waiter.resume()
        }
    }

    /// Fetches the containers this dispatcher cares about and merges them into the cache.
    ///
    /// Everything that suspends (the lists, and the mounts of containers seen for the first time) happens
    /// before the merge; the merge itself runs without suspending, as Arvados holds its queue lock across it,
    /// so a lock, unlock or cancel response or a pushed record applied while the poll was in flight is never
    /// overwritten by the poll's older view.
    public func update() async throws(ArvadosAPIError) {
        let started = self.wallClock()
        self.dontUpdate = []
        defer { self.dontUpdate = nil }
        let next: [ContainerUUID: Container]
        do {
            next = try await self.poll()
        } catch {
            self.noteFailure(error)
            throw error
        }
        var mounts: [ContainerUUID: [String: Mount]] = [:]
        var unreadable: [ContainerUUID: String] = [:]
        for (uuid, container) in next where self.current[uuid] == nil {
            switch await self.fetchMounts(container) {
            case .success(let found): mounts[uuid] = found
            case .failure(let message): unreadable[uuid] = message
            case .none: break
            }
        }
        await self.afterPollForTesting?()
        // From here on, nothing suspends until the merge is done.
        let skip = self.dontUpdate ?? []
        var unsatisfiable: [(Container, String)] = []
        for (uuid, polled) in next where !skip.contains(uuid) {
            if var entry = self.current[uuid] {
                entry.container.refreshPolledAttributes(from: polled)
                self.current[uuid] = entry
            } else if let message = unreadable[uuid] {
                unsatisfiable.append((polled, message))
            } else if let found = mounts[uuid] {
                var container = polled
                container.mounts = found
                if let reason = self.admitOrReject(container) { unsatisfiable.append((container, reason)) }
            }
        }
        for uuid in self.current.byUUID.keys where next[uuid] == nil && !skip.contains(uuid) {
            self.current[uuid] = nil
        }
        self.updatedAt = started
        self.logger.debug("Queue updated", metadata: ["queue.entries": "\(self.current.byUUID.count)"])
        self.notify()
        for (container, reason) in unsatisfiable {
            await self.cancelUnsatisfiable(container, message: reason)
        }
    }

    /// The outcome of fetching a new container's mounts.
    private enum MountsResult {
        case success([String: Mount])
        /// The mounts cannot be read: the container must be cancelled, for this reason.
        case failure(String)
    }

    /// Fetches the mounts of a container seen for the first time; `nil` (logged) if the call failed and the
    /// next poll should try again.
    private func fetchMounts(_ polled: Container) async -> MountsResult? {
        do {
            return .success(try await self.client.container(polled.uuid, select: ["mounts"]).mounts)
        } catch  where error.code == .decoding {
            return .failure("cannot read the container's mounts: \(error.message)")
        } catch {
            self.noteFailure(error)
            self.logger.warning(
                "Cannot fetch mounts",
                metadata: ["container.uuid": "\(polled.uuid)", "error": "\(error)"]
            )
            return nil
        }
    }

    private func poll() async throws(ArvadosAPIError) -> [ContainerUUID: Container] {
        if self.authorizationUUID == nil {
            self.authorizationUUID = try await self.client.currentAuthorization().uuid
        }
        let me = self.authorizationUUID ?? ""
        var next: [ContainerUUID: Container] = [:]
        for container in try await self.fetchByUUID([ArvadosFilter("locked_by_uuid", "=", .string(me))]) {
            next[container.uuid] = container
        }
        for container in try await self.fetchQueued() {
            next[container.uuid] = container
        }
        // Cached containers that neither list returned: ask for them by UUID.
        var missing = Set(
            self.current.byUUID.compactMap { uuid, entry in
                next[uuid] == nil && !entry.container.state.isFinal ? uuid : nil
            }
        )
        while !missing.isEmpty {
            let batch = Array(missing.sorted().prefix(20))
            let found = try await self.fetchByUUID([
                ArvadosFilter("uuid", "in", .array(batch.map { .string($0.rawValue) }))
            ])
            if found.isEmpty {
                // The only proof of deletion: nothing at all came back for the batch.
                for uuid in batch {
                    self.logger.warning(
                        "Container not found by the API (deleted?)",
                        metadata: ["container.uuid": "\(uuid)"]
                    )
                    missing.remove(uuid)
                    self.current[uuid] = nil
                }
                continue
            }
            for container in found {
                guard missing.remove(container.uuid) != nil else {
                    throw ArvadosAPIError(
                        code: .decoding,
                        message: "server returned \(container.uuid), which was not asked for; not risking a deadlock"
                    )
                }
                next[container.uuid] = container
            }
        }
        return next
    }

    /// Every container matching `filters`, paged by UUID (keyset pagination).
    private func fetchByUUID(_ filters: [ArvadosFilter]) async throws(ArvadosAPIError) -> [Container] {
        var results: [Container] = []
        var pageFilters = filters
        while true {
            let page = try await self.client.containers(
                filters: pageFilters,
                order: ["uuid"],
                limit: self.configuration.pageSize,
                select: Self.polledAttributes,
                count: "none"
            )
            guard let last = page.items.last else { break }
            results += page.items
            pageFilters = filters + [ArvadosFilter("uuid", ">", .string(last.uuid.rawValue))]
        }
        return results
    }

    /// Queued containers with priority > 0, highest priority first, until enough non-supervisors are in hand.
    private func fetchQueued() async throws(ArvadosAPIError) -> [Container] {
        var results: [Container] = []
        var nonSupervisors = 0
        while nonSupervisors < self.configuration.queuedTarget {
            let page = try await self.client.containers(
                filters: [ArvadosFilter("state", "=", .string("Queued")), ArvadosFilter("priority", ">", .int(0))],
                order: ["priority desc", "uuid"],
                limit: self.configuration.pageSize,
                offset: results.count,
                select: Self.polledAttributes,
                count: "none"
            )
            guard !page.items.isEmpty else { break }
            results += page.items
            nonSupervisors += page.items.count { !$0.schedulingParameters.supervisor }
        }
        return results
    }

    /// Admits a container seen for the first time; when no instance type can run it, returns why it must be
    /// cancelled if it is Queued or Locked (one already running is only logged: its runner decides).
    private func admitOrReject(_ container: Container) -> String? {
        do {
            try self.admit(container)
            return nil
        } catch {
            guard container.state == .queued || container.state == .locked else {
                self.logger.warning(
                    "No instance type for a running container",
                    metadata: ["container.uuid": "\(container.uuid)", "error": "\(error.message)"]
                )
                return nil
            }
            return error.message
        }
    }

    /// Caches a container seen for the first time (with its mounts), with its instance types. The cache keeps
    /// no mounts: they only serve to choose the types.
    private func admit(_ container: Container) throws(InstanceTypeChoiceError) {
        var container = container
        let types = try self.chooser.eligibleTypes(for: container)
        let resources = self.chooser.resourcesNeeded(for: container)
        var onDemandTypes: [InstanceType] = []
        if container.schedulingParameters.preemptible {
            // What a spot fallback would run it on: the same choice for an on-demand container.
            var onDemand = container
            onDemand.schedulingParameters.preemptible = false
            onDemandTypes = (try? self.chooser.eligibleTypes(for: onDemand)) ?? []
        }
        container.mounts = [:]
        self.current[container.uuid] = QueueEntry(
            container: container,
            instanceTypes: types,
            resources: resources,
            firstSeenAt: self.wallClock(),
            onDemandTypes: onDemandTypes
        )
    }

    /// Locks (if Queued), records `runtime_status.error`, and cancels a container nothing can run.
    private func cancelUnsatisfiable(_ container: Container, message: String) async {
        self.logger.info(
            "Cancelling unsatisfiable container",
            metadata: ["container.uuid": "\(container.uuid)", "error": "\(message)"]
        )
        do {
            if container.state == .queued { _ = try await self.client.lockContainer(container.uuid) }
            _ = try await self.client.updateContainer(
                container.uuid,
                ["runtime_status": .object(["error": .string(message)])]
            )
            _ = try await self.client.updateContainer(container.uuid, ["state": .string("Cancelled")])
        } catch {
            if let latest = try? await self.client.container(container.uuid), latest.state == .cancelled { return }
            self.logger.warning(
                "Cannot cancel unsatisfiable container",
                metadata: ["container.uuid": "\(container.uuid)", "error": "\(error)"]
            )
        }
    }

    // MARK: - Pushed changes

    /// Applies containers as an embedded API committed them (oldest first), without fetching anything.
    ///
    /// A cached container takes the pushed record; a new one is added when the queue would poll it (Queued with
    /// priority above 0, or locked by this dispatcher), its instance types worked out from the pushed record.
    /// A poll in progress keeps what was pushed. With `complete`, the wall-clock time (read from ``wallClock`` as
    /// the batch was taken) by which every change answered to its client has been pushed, the scheduler's "exited before the last update" rule can act
    /// on pushes; it is only taken once a poll has completed, so a restarted dispatcher first learns what it had
    /// locked.
    public func applyPushed(_ containers: [Container], complete: Timestamp?) {
        var latest: [ContainerUUID: Container] = [:]
        var order: [ContainerUUID] = []
        for container in containers {
            if latest.updateValue(container, forKey: container.uuid) == nil { order.append(container.uuid) }
        }
        var changed = false
        for uuid in order {
            guard let container = latest[uuid] else { continue }
            self.dontUpdate?.insert(uuid)
            if self.current[uuid] != nil {
                changed = self.replace(with: container) || changed
                continue
            }
            let wanted =
                (container.state == .queued && container.priority > 0)
                || ((container.state == .locked || container.state == .running)
                    && self.authorizationUUID != nil && container.lockedByUUID == self.authorizationUUID)
            guard wanted else { continue }
            changed = true
            if let reason = self.admitOrReject(container) {
                Task { await self.cancelUnsatisfiable(container, message: reason) }
            }
        }
        if let complete, let updatedAt = self.updatedAt, complete > updatedAt {
            self.updatedAt = complete
        }
        // A record the cache already holds (the answer to this dispatcher's own lock, unlock or cancel, pushed
        // again by the change feed) changes nothing: no second scheduling pass for it.
        if changed { self.notify() }
    }

    // MARK: - Changing containers

    /// Locks a Queued container for this dispatcher.
    public func lock(_ uuid: ContainerUUID) async throws(ArvadosAPIError) {
        do {
            self.apply(try await self.client.lockContainer(uuid))
        } catch {
            await self.failed(uuid, error)
            throw error
        }
    }

    /// Returns a Locked container to the queue.
    public func unlock(_ uuid: ContainerUUID) async throws(ArvadosAPIError) {
        do {
            self.apply(try await self.client.unlockContainer(uuid))
        } catch {
            await self.failed(uuid, error)
            throw error
        }
    }

    /// Returns a Running container whose instance was preempted to the queue, with `runtime_status` warning
    /// `note` (kept by the requeue).
    ///
    /// The embedded API allows this unlock; an API that refuses it (422: Arvados has no Running → Queued) gets
    /// Arvados's path instead, a cancel, and its container request's retry.
    public func requeue(_ uuid: ContainerUUID, note: [String: JSONValue]) async throws(ArvadosAPIError) {
        do {
            if !note.isEmpty {
                var status = self.current[uuid]?.container.runtimeStatus ?? [:]
                for (key, value) in note { status[key] = value }
                self.apply(try await self.client.updateContainer(uuid, ["runtime_status": .object(status)]))
            }
            self.apply(try await self.client.unlockContainer(uuid, requeueRunning: true))
        } catch {
            if error.code == .unprocessable, self.current[uuid]?.container.state == .running {
                self.logger.info(
                    "The API does not requeue a running container: cancelling it",
                    metadata: ["container.uuid": "\(uuid)"]
                )
                try await self.cancel(uuid)
                return
            }
            await self.failed(uuid, error)
            throw error
        }
    }

    /// Merges `note` into a Locked or Running container's `runtime_status` (the keys it names replace the ones
    /// stored).
    public func noteRuntimeStatus(_ uuid: ContainerUUID, _ note: [String: JSONValue]) async throws(ArvadosAPIError) {
        var status = self.current[uuid]?.container.runtimeStatus ?? [:]
        for (key, value) in note { status[key] = value }
        do {
            self.apply(try await self.client.updateContainer(uuid, ["runtime_status": .object(status)]))
        } catch {
            await self.failed(uuid, error)
            throw error
        }
    }

    /// Cancels a container.
    public func cancel(_ uuid: ContainerUUID) async throws(ArvadosAPIError) {
        do {
            self.apply(try await self.client.updateContainer(uuid, ["state": .string("Cancelled")]))
        } catch {
            await self.failed(uuid, error)
            throw error
        }
    }

    /// After a refused lock, unlock or cancel: notes a 503 and, when the API refused the change as not
    /// possible from the container's state (422 or 409), re-reads the container, so the cache stops showing a
    /// state the API disagrees with and the scheduler stops asking for the same impossible change.
    private func failed(_ uuid: ContainerUUID, _ error: ArvadosAPIError) async {
        self.noteFailure(error)
        guard error.code == .unprocessable || error.code == .conflict, self.current[uuid] != nil else { return }
        do {
            self.apply(try await self.client.container(uuid))
        } catch {
            self.noteFailure(error)
            self.logger.debug(
                "Cannot re-read a container after a refused change",
                metadata: ["container.uuid": "\(uuid)", "error": "\(error)"]
            )
        }
    }

    /// Remembers a 503 from any call, as Arvados's client does for `Last503()` (reference §3.4 step 3).
    private func noteFailure(_ error: ArvadosAPIError) {
        if error.code == .serviceUnavailable {
            self.lastServiceUnavailable = self.clock.now
            self.lastServiceUnavailableAt = self.wallClock()
        }
    }

    /// Drops a container the dispatcher no longer needs to track: only final ones, or Queued with priority 0.
    public func forget(_ uuid: ContainerUUID) {
        guard let entry = self.current[uuid] else { return }
        let container = entry.container
        guard container.state.isFinal || (container.state == .queued && container.priority == 0) else { return }
        self.current[uuid] = nil
        self.notify()
    }

    /// Applies the response of a lock, unlock or cancel at once, and shields it from the poll in progress.
    ///
    /// The response is the whole record, so after a lock the entry holds everything a runner needs (the pool
    /// sends it along); mounts stay dropped, as in every cached record.
    private func apply(_ response: Container) {
        self.dontUpdate?.insert(response.uuid)
        if self.replace(with: response) { self.notify() }
    }

    /// Replaces a cached entry's container with `record` (without its mounts); `false` when there is no
    /// such entry or it already holds that record (pushed by the change feed before the call's answer, say).
    private func replace(with record: Container) -> Bool {
        guard var entry = self.current[record.uuid] else { return false }
        var record = record
        record.mounts = [:]
        // Cheap checks first: a different record almost always differs in one of these.
        let cached = entry.container
        if cached.modifiedAt == record.modifiedAt && cached.state == record.state
            && cached.priority == record.priority && cached == record
        {
            return false
        }
        // Set once: each change of the entry's container makes a new shared record.
        entry.container = record
        self.current[record.uuid] = entry
        return true
    }

    // MARK: - Metrics

    /// `arvados_dispatchcloud_queue_entries{state,instance_type}`, zeroing combinations that emptied.
    private func reportMetrics() {
        let counts = self.current.counts
        for (key, count) in counts where self.reportedEntryCounts[key] != count {
            self.recordEntryCount(key, count)
        }
        // Combinations that emptied go to zero (and stay reported).
        for key in self.reportedEntryCounts.keys where counts[key] == nil && self.reportedEntryCounts[key] != 0 {
            self.recordEntryCount(key, 0)
        }
    }

    private func recordEntryCount(_ key: Entries.CountKey, _ count: Int) {
        Gauge(
            label: "arvados_dispatchcloud_queue_entries",
            dimensions: [("state", key.state.rawValue), ("instance_type", key.instanceType)],
            factory: self.metricsFactory
        )
        .record(count)
        self.reportedEntryCounts[key] = count
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
                self.version &+= 1
            }
        }
    }
}

extension Container {
    /// Takes the attributes a poll selects (``ContainerQueue/polledAttributes``) from `polled` and keeps the
    /// rest, which a poll does not return: a record pushed or returned by a lock keeps its command,
    /// environment and the like.
    mutating func refreshPolledAttributes(from polled: Container) {
        self.state = polled.state
        self.priority = polled.priority
        self.runtimeConstraints = polled.runtimeConstraints
        self.containerImage = polled.containerImage
        self.schedulingParameters = polled.schedulingParameters
        self.createdAt = polled.createdAt
        self.lockedByUUID = polled.lockedByUUID
    }
}
