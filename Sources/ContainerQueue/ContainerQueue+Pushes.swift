public import DispatchModel

extension ContainerQueue {
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
