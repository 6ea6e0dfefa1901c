public import DispatchModel

extension WorkerStateMachine {
    /// Starts a container here, if the worker accepts containers and is not already running it.
    ///
    /// Returns `nil` when the worker cannot take it (not idle or running, or held or draining).
    public mutating func startContainer(_ uuid: ContainerUUID, at now: Instant) -> [Action]? {
        guard self.acceptsContainers, self.starting[uuid] == nil, self.running[uuid] == nil else { return nil }
        self.starting[uuid] = Runner()
        var actions: [Action] = [.startRunner(uuid)]
        if self.state != .running {
            self.state = .running
            actions.append(.notifyScheduler)
        }
        return actions
    }

    /// The runner's `--detach` returned: the container counts as running (its errors are only logged; the
    /// next probe tells whether it really runs).
    public mutating func runnerStarted(_ uuid: ContainerUUID, at now: Instant) {
        guard let runner = self.starting.removeValue(forKey: uuid) else { return }
        self.touch(at: now)
        self.busy = now
        self.running[uuid] = runner
        self.lastUUID = uuid
    }

    /// Asks the container's runner to stop: SIGTERM now and every `TimeoutSignal`, never SIGKILL.
    ///
    /// Idempotent: a second request while the first is in progress does nothing.
    public mutating func killContainer(_ uuid: ContainerUUID, reason: String, at now: Instant) -> [Action] {
        let requested = self.updateRunner(uuid) { runner in
            guard runner.killRequestedAt == nil else { return false }
            runner.killRequestedAt = now
            runner.killReason = reason
            return true
        }
        guard requested == true else { return [] }
        return [.sendTerm(uuid), .scheduleKillTick(uuid, after: self.timeouts.signal)]
    }

    /// The container is Complete: its runner finalized it and is exiting by itself. Instead of Arvados's
    /// immediate `--kill` (a program start and an SSH session per container, for a runner that is nearly
    /// always gone by then), the runner moves to ``finishing``: it stops counting against the worker's
    /// capacity at once, the next probe that no longer lists it ends it, and one still listed `TimeoutSignal`
    /// later gets SIGTERM (``finishingProbed(listed:probeStartedAt:at:)``).
    ///
    /// Idempotent; `[]` when the worker has no such runner or it is already finishing.
    public mutating func runnerFinished(_ uuid: ContainerUUID, at now: Instant) -> [Action] {
        guard self.finishing[uuid] == nil,
            var runner = self.running.removeValue(forKey: uuid) ?? self.starting.removeValue(forKey: uuid)
        else { return [] }
        runner.finishedAt = now
        self.finishing[uuid] = runner
        self.touch(at: now)
        self.busy = now
        if self.state == .running && self.running.isEmpty && self.starting.isEmpty { self.state = .idle }
        return [.notifyScheduler]
    }

    /// A probe started at `probeStartedAt` listed `listed`: ends the finishing runners it no longer lists
    /// (their locks are released: they have exited) and sends SIGTERM to those still listed `TimeoutSignal`
    /// after their container completed. Listings from probes started before a runner was marked finishing
    /// say nothing about it.
    mutating func finishingProbed(listed: Set<ContainerUUID>, probeStartedAt: Instant, at now: Instant) -> [Action] {
        var actions: [Action] = []
        for (uuid, runner) in self.finishing.sorted(by: { $0.key < $1.key }) {
            guard let since = runner.finishedAt, since <= probeStartedAt else { continue }
            if !listed.contains(uuid) {
                actions += self.closeRunner(uuid, at: now)
            } else if runner.killRequestedAt == nil && since.duration(to: probeStartedAt) >= self.timeouts.signal {
                actions += self.killContainer(uuid, reason: "still running after its container completed", at: now)
            }
        }
        if actions.contains(where: { if case .runnerEnded = $0 { true } else { false } }) {
            actions.append(.notifyScheduler)
        }
        return actions
    }

    /// A `--kill 15` finished. Exit 0 means the runner is gone.
    public mutating func termSent(_ uuid: ContainerUUID, succeeded: Bool, at now: Instant) -> [Action] {
        guard succeeded else { return [] }
        let ended = self.closeRunner(uuid, at: now)
        return ended.isEmpty ? [] : ended + [.notifyScheduler]
    }

    /// The kill timer fired: send SIGTERM again, or give up after `TimeoutTERM` and drain the worker (unless it
    /// is held).
    public mutating func killTick(_ uuid: ContainerUUID, at now: Instant) -> [Action] {
        let timeouts = self.timeouts
        let gaveUp = self.updateRunner(uuid) { runner -> Bool? in
            guard let since = runner.killRequestedAt, !runner.givenUp else { return nil }
            guard since.duration(to: now) > timeouts.term else { return false }
            runner.givenUp = true
            return true
        }
        switch gaveUp {
        case .some(.some(true)):
            return self.idleBehavior == .hold ? [] : self.setIdleBehavior(.drain, at: now)
        case .some(.some(false)):
            return [.sendTerm(uuid), .scheduleKillTick(uuid, after: self.timeouts.signal)]
        default:
            // The runner is gone, or no kill is in progress: stop.
            return []
        }
    }

    /// Forgets a runner that has ended; the worker goes idle when it was the last one.
    mutating func closeRunner(_ uuid: ContainerUUID, at now: Instant) -> [Action] {
        guard self.running.removeValue(forKey: uuid) != nil || self.finishing.removeValue(forKey: uuid) != nil
        else { return [] }
        self.touch(at: now)
        if self.state == .running && self.running.isEmpty && self.starting.isEmpty { self.state = .idle }
        return [.runnerEnded(uuid)]
    }

    /// Applies `body` to the runner of `uuid` wherever it is kept; `nil` if there is no such runner.
    private mutating func updateRunner<T>(_ uuid: ContainerUUID, _ body: (inout Runner) -> T) -> T? {
        if var runner = self.running[uuid] {
            defer { self.running[uuid] = runner }
            return body(&runner)
        }
        if var runner = self.starting[uuid] {
            defer { self.starting[uuid] = runner }
            return body(&runner)
        }
        if var runner = self.finishing[uuid] {
            defer { self.finishing[uuid] = runner }
            return body(&runner)
        }
        return nil
    }
}
