public import ArvadosAPI
import DispatchModel
import Logging
import ServiceLifecycle
import Synchronization

extension ContainerQueue {
    // MARK: - Polling

    /// Polls until graceful shutdown: an update, then a pause of `pollInterval` or the update's own duration,
    /// whichever is longer.
    ///
    /// Failed updates are retried after a pause that doubles from `pollInterval` up to
    /// `maxPollRetryInterval`, with jitter, so an API that keeps failing is not asked again at once; they are
    /// logged at most once per `failureLogInterval`, with a count.
    ///
    /// The cancels of pushed containers no instance type can run are children of the same task group: a shutdown
    /// waits for those in flight.
    public func run() async throws {
        let pushedUnsatisfiable = self.pushedUnsatisfiable
        await withDiscardingTaskGroup { group in
            group.addTask {
                defer { self.pushedUnsatisfiableContinuation.finish() }
                await self.pollUntilShutdown()
            }
            for await (container, reason) in pushedUnsatisfiable {
                group.addTask { await self.cancelUnsatisfiable(container, message: reason) }
            }
        }
    }

    /// The polling loop of ``run()``.
    private func pollUntilShutdown() async {
        var backoff = RetryBackoff(
            initial: self.configuration.pollInterval,
            maximum: max(self.configuration.pollInterval, self.configuration.maxPollRetryInterval)
        )
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
                await self.pause(max(delay, took))
            }
        }
    }

    /// Waits `interval`, or less if the task is cancelled or graceful shutdown begins (or began).
    ///
    /// Not ServiceLifecycle's `cancelWhenGracefulShutdown`: when its operation ends it cancels its shutdown
    /// waiter, which finishes in an unstructured task, off a simulation's executor, so a simulation's clock moved
    /// on while every pause ended (fewer polls, and runs no longer repeatable).
    private func pause(_ interval: Duration) async {
        let clock = self.clock
        let pause = Pause()
        await withTaskGroup(of: Void.self) { group in
            // The timer is a child task, on the caller's executor (a simulation's clock sees it asleep at once).
            group.addTask {
                try? await clock.sleep(for: interval)
                pause.end()
            }
            await withTaskCancellationOrGracefulShutdownHandler {
                await pause.wait()
            } onCancelOrGracefulShutdown: {
                pause.end()
            }
            group.cancelAll()
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
        // From here on, nothing suspends until the merge is done.
        let skip = self.dontUpdate ?? []
        var unsatisfiable: [(Container, String)] = []
        for (uuid, polled) in next where !skip.contains(uuid) {
            if var entry = self.current[uuid] {
                // Most of a poll is what the cache already holds: left as it is, the queue's version stays, and
                // the next pass may reuse its plan.
                guard !entry.container.hasPolledAttributes(of: polled) else { continue }
                entry.container.refreshPolledAttributes(from: polled)
                self.store(entry)
            } else if let message = unreadable[uuid] {
                unsatisfiable.append((polled, message))
            } else if let found = mounts[uuid] {
                var container = polled
                container.mounts = found
                if let reason = self.admitOrReject(container) { unsatisfiable.append((container, reason)) }
            }
        }
        for uuid in self.unreturned(by: next) where !skip.contains(uuid) { self.current[uuid] = nil }
        self.updatedAt = started
        self.lastPollStarted = started
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

    /// The cached containers a poll's answer `next` left out that must be fetched again (by UUID) and, if still
    /// not found, dropped; in no particular order.
    ///
    /// A final container stays until the scheduler forgets it (``forget(_:)``; dropped by a poll, one that completed
    /// just before it left the queue before any pass told the pool its runner was finishing, and the runner was
    /// killed as "not in queue"), and with ``Configuration-swift.struct/pushesAreComplete`` every one stays, current
    /// as pushed (every change since it was cached has been applied or waits in the feed): then the cache is not
    /// even walked.
    ///
    /// Read from the entries as they are: one that changed while a poll was in flight is left alone by that poll
    /// anyway (``dontUpdate``), so for the others the answer is the same before and after the poll's requests. (A
    /// set of the kept ones, built at every poll, cost three hash look-ups per cached container at 100,000 Queued.)
    private func unreturned(by next: [ContainerUUID: Container]) -> [ContainerUUID] {
        guard !self.configuration.pushesAreComplete else { return [] }
        var unreturned: [ContainerUUID] = []
        for (uuid, entry) in self.current.byUUID where !entry.summary.state.isFinal && next[uuid] == nil {
            unreturned.append(uuid)
        }
        return unreturned
    }

    /// The containers this dispatcher cares about as fetched.
    private func poll() async throws(ArvadosAPIError) -> [ContainerUUID: Container] {
        if self.authorizationUUID == nil {
            self.authorizationUUID = try await self.client.currentAuthorization().uuid
        }
        let me = self.authorizationUUID ?? ""
        // With complete pushes, the cache holds every change already: after the first poll, only what changed since
        // the last one is asked for (a check, and an update time for the scheduler's exited-before-update rule).
        var changedSince: [ArvadosFilter] = []
        if self.configuration.pushesAreComplete, let last = self.lastPollStarted {
            let since = last.advanced(by: .zero - self.configuration.pushedChangeMargin)
            changedSince = [ArvadosFilter("modified_at", ">=", .string(since.rfc3339))]
        }
        var next: [ContainerUUID: Container] = [:]
        for container in try await self.fetchByUUID(
            [ArvadosFilter("locked_by_uuid", "=", .string(me))] + changedSince
        ) {
            next[container.uuid] = container
        }
        for container in try await self.fetchQueued(changedSince) {
            next[container.uuid] = container
        }
        // Cached containers that neither list returned: ask for them by UUID, 20 at a time, in UUID order (sorted
        // once: at 100,000 cached Queued containers beyond the Queued list's target, sorting what was left before
        // every batch took a third of the daemon's CPU).
        let missing = self.unreturned(by: next).sorted()
        var position = 0
        var carried: [ContainerUUID] = []
        while true {
            // Those a batch did not return go first in the next one: only a batch that returns nothing at all
            // proves a deletion.
            var batch = carried
            while batch.count < 20 && position < missing.count {
                batch.append(missing[position])
                position += 1
            }
            guard !batch.isEmpty else { break }
            let found = try await self.fetchByUUID([
                ArvadosFilter("uuid", "in", .array(batch.map { .string($0.rawValue) }))
            ])
            if found.isEmpty {
                for uuid in batch {
                    self.logger.warning(
                        "Container not found by the API (deleted?)",
                        metadata: ["container.uuid": "\(uuid)"]
                    )
                    self.current[uuid] = nil
                }
                carried = []
                continue
            }
            var asked = Set(batch)
            for container in found {
                guard asked.remove(container.uuid) != nil else {
                    throw ArvadosAPIError(
                        code: .decoding,
                        message: "server returned \(container.uuid), which was not asked for; not risking a deadlock"
                    )
                }
                next[container.uuid] = container
            }
            carried = batch.filter { asked.contains($0) }
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

    /// Queued containers with priority > 0 (and matching `filters`), highest priority first, until enough
    /// non-supervisors are in hand.
    private func fetchQueued(_ filters: [ArvadosFilter]) async throws(ArvadosAPIError) -> [Container] {
        var results: [Container] = []
        var nonSupervisors = 0
        while nonSupervisors < self.configuration.queuedTarget {
            let page = try await self.client.containers(
                filters: [ArvadosFilter("state", "=", .string("Queued")), ArvadosFilter("priority", ">", .int(0))]
                    + filters,
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
}

extension Container {
    /// Takes the attributes a poll selects (``ContainerQueue/polledAttributes``) from `polled` and keeps the
    /// rest, which a poll does not return: a record pushed or returned by a lock keeps its command,
    /// environment and the like. The modification time comes along, so a record the change feed delivers late
    /// (older than the poll's) is recognized as older and does not undo what the poll read
    /// (``ContainerQueue/applyPushed(_:complete:)``).
    mutating func refreshPolledAttributes(from polled: Container) {
        self.state = polled.state
        self.modifiedAt = polled.modifiedAt
        self.priority = polled.priority
        self.runtimeConstraints = polled.runtimeConstraints
        self.containerImage = polled.containerImage
        self.schedulingParameters = polled.schedulingParameters
        self.createdAt = polled.createdAt
        self.lockedByUUID = polled.lockedByUUID
    }

    /// Whether ``refreshPolledAttributes(from:)`` would leave this record as it is: the same attributes, compared.
    func hasPolledAttributes(of polled: Container) -> Bool {
        self.state == polled.state && self.modifiedAt == polled.modifiedAt && self.priority == polled.priority
            && self.runtimeConstraints == polled.runtimeConstraints && self.containerImage == polled.containerImage
            && self.schedulingParameters == polled.schedulingParameters && self.createdAt == polled.createdAt
            && self.lockedByUUID == polled.lockedByUUID
    }
}

/// One pause of the polling loop, ended by whichever comes first of its timer, a graceful shutdown and the
/// task's cancellation. The last two call back synchronously, so the state is behind a mutex, not the actor.
private final class Pause: Sendable {
    private let state = Mutex<(ended: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// Returns once ``end()`` was called, before or after.
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ended = self.state.withLock { state in
                if !state.ended { state.waiter = continuation }
                return state.ended
            }
            if ended { continuation.resume() }
        }
    }

    func end() {
        let waiter = self.state.withLock { state in
            state.ended = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
