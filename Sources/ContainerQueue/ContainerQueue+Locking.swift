public import ArvadosAPI
public import DispatchModel
import Logging

extension ContainerQueue {
    // MARK: - Changing containers

    /// Locks a Queued container for this dispatcher; does nothing for one the cache shows locked by it already.
    ///
    /// A scheduling pass plans on a snapshot of the queue. At 100,000 containers planning takes about 0.1 s, and a
    /// lock the previous pass started is often answered meanwhile: the pass then asked for the same lock again,
    /// which the API refuses (422 "cannot lock when Locked"; 1,475 times in 5 minutes in the 100,000 × 100 scale
    /// cell), followed by a re-read of the container.
    public func lock(_ uuid: ContainerUUID) async throws(ArvadosAPIError) {
        if let cached = self.current[uuid]?.container, cached.state == .locked || cached.state == .running,
            let me = self.authorizationUUID, cached.lockedByUUID == me
        {
            return
        }
        try await self.change(uuid) { client async throws(ArvadosAPIError) in try await client.lockContainer(uuid) }
    }

    /// Returns a Locked container to the queue.
    public func unlock(_ uuid: ContainerUUID) async throws(ArvadosAPIError) {
        try await self.change(uuid) { client async throws(ArvadosAPIError) in try await client.unlockContainer(uuid) }
    }

    /// Returns a Running container whose instance was preempted to the queue, with `runtime_status` warning
    /// `note` (kept by the requeue).
    ///
    /// The embedded API allows this unlock; an API that refuses it (422: Arvados has no Running → Queued) gets
    /// Arvados's path instead, a cancel, and its container request's retry.
    public func requeue(_ uuid: ContainerUUID, note: [String: JSONValue]) async throws(ArvadosAPIError) {
        do {
            if !note.isEmpty {
                let status = self.runtimeStatus(of: uuid, merging: note)
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
        let status = self.runtimeStatus(of: uuid, merging: note)
        try await self.change(uuid) { client async throws(ArvadosAPIError) in
            try await client.updateContainer(uuid, ["runtime_status": .object(status)])
        }
    }

    /// The cached container's `runtime_status` with `note`'s keys replacing the ones it has.
    private func runtimeStatus(of uuid: ContainerUUID, merging note: [String: JSONValue]) -> [String: JSONValue] {
        (self.current[uuid]?.container.runtimeStatus ?? [:]).merging(note) { _, new in new }
    }

    /// Cancels a container.
    public func cancel(_ uuid: ContainerUUID) async throws(ArvadosAPIError) {
        try await self.change(uuid) { client async throws(ArvadosAPIError) in
            try await client.updateContainer(uuid, ["state": .string("Cancelled")])
        }
    }

    /// Makes one change through the API: applies its answer at once (``apply(_:)``), or, when the API refuses
    /// it, notes the refusal (``failed(_:_:)``) and rethrows.
    private func change(
        _ uuid: ContainerUUID,
        _ call: (ArvadosClient) async throws(ArvadosAPIError) -> Container
    ) async throws(ArvadosAPIError) {
        do {
            self.apply(try await call(self.client))
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
    func noteFailure(_ error: ArvadosAPIError) {
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
    /// sends it along); mounts stay dropped, as in every cached record. A response older (by `modified_at`) than
    /// the cached record is dropped: while the call was answered, the change feed pushed a later change (a
    /// runner's Running after the re-read of a refused unlock, say), which the response would undo.
    private func apply(_ response: Container) {
        self.dontUpdate?.insert(response.uuid)
        guard !self.isOlderThanCached(response) else { return }
        if self.replace(with: response) { self.notify() }
    }

    /// Whether `record` is older (by `modified_at`) than the cached record of its container: a push or an answer
    /// that would undo a later change already applied.
    func isOlderThanCached(_ record: Container) -> Bool {
        guard let held = self.current[record.uuid]?.container.modifiedAt, let modified = record.modifiedAt else {
            return false
        }
        return modified < held
    }

    /// Replaces a cached entry's container with `record` (without its mounts); `false` when there is no
    /// such entry or it already holds that record (pushed by the change feed before the call's answer, say).
    func replace(with record: Container) -> Bool {
        guard var entry = self.current[record.uuid] else { return false }
        var record = record
        record.mounts = [:]  // as cached, for the comparison
        // The UUID's text as the entry first had it, kept for the container's life: the pool keeps its runners
        // under that text (a pass's start hands it over), so each pass's match of entries to runners compares two
        // references to one string rather than the characters.
        record.uuid = entry.container.uuid
        // Cheap checks first: a different record almost always differs in one of these.
        let cached = entry.container
        if cached.modifiedAt == record.modifiedAt && cached.state == record.state
            && cached.priority == record.priority && cached == record
        {
            return false
        }
        // Set once: each change of the entry's container makes a new shared record.
        entry.container = record
        self.store(entry)
        return true
    }
}
