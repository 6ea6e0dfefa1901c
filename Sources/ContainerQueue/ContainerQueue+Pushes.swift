public import DispatchModel

extension ContainerQueue {
    // MARK: - Pushed changes

    /// Applies containers as an embedded API committed them (oldest first), without fetching anything.
    ///
    /// A cached container takes the pushed record unless the record is older (by `modified_at`) than the cached one;
    /// a new one is added when the queue would poll it (Queued with priority above 0, or locked by this
    /// dispatcher), its instance types worked out from the pushed record.
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
            if self.isOlderThanCached(container) {
                // Older than what the cache holds: the change feed behind the answer to this dispatcher's own
                // lock, say (a burst of creates delays it). Applied, it would show the container Queued again,
                // and the next pass would lock it a second time (422 "cannot lock when Locked").
                continue
            }
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
                self.pushedUnsatisfiableContinuation.yield((container, reason))
            }
        }
        if let complete, let updatedAt = self.updatedAt, complete > updatedAt {
            self.updatedAt = complete
        }
        // A record the cache already holds (the answer to this dispatcher's own lock, unlock or cancel, pushed
        // again by the change feed) changes nothing: no second scheduling pass for it.
        if changed { self.notify() }
    }
}
