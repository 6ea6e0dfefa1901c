import DispatchModel

extension WorkerStateMachine {
    /// Starts a container here, if the worker accepts containers and is not already running it.
    ///
    /// Returns `nil` when the worker cannot take it (not idle or running, or held or draining), or a runner for
    /// the container is still on it.
    mutating func startContainer(_ uuid: ContainerUUID, at now: Instant) -> [Action]? {
        guard self.acceptsContainers else { return nil }
        let wasIdle = self.state == .idle
        let started = self.modifyRunners { runners -> Bool in
            guard runners[uuid] == nil else { return false }
            runners[uuid] = Runner(.starting)
            return true
        }
        guard started == true else { return nil }
        return wasIdle ? [.startRunner(uuid), .notifyScheduler] : [.startRunner(uuid)]
    }

    /// The runner's `--detach` returned: the container counts as running (its errors are only logged; the
    /// next probe tells whether it really runs).
    mutating func runnerStarted(_ uuid: ContainerUUID, at now: Instant) {
        let started = self.modifyRunners { runners -> Bool in
            guard runners[uuid]?.stage == .starting else { return false }
            runners[uuid]?.stage = .running
            return true
        }
        guard started == true else { return }
        self.touch(at: now)
        self.busy = now
        self.lastUUID = uuid
    }

    /// Asks the container's runner to stop: SIGTERM now and every `TimeoutSignal`, never SIGKILL.
    ///
    /// Idempotent: a second request while the first is in progress does nothing.
    mutating func killContainer(_ uuid: ContainerUUID, reason: String, at now: Instant) -> [Action] {
        let requested = self.modifyRunners { runners -> Bool in
            guard let runner = runners[uuid], runner.kill == nil else { return false }
            runners[uuid]?.kill = Runner.Kill(requestedAt: now, reason: reason)
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
    mutating func runnerFinished(_ uuid: ContainerUUID, at now: Instant) -> [Action] {
        let finished = self.modifyRunners { runners -> Bool in
            guard let runner = runners[uuid], runner.isActive else { return false }
            runners[uuid]?.stage = .finishing(since: now)
            return true
        }
        guard finished == true else { return [] }
        self.touch(at: now)
        self.busy = now
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
            } else if runner.kill == nil && since.duration(to: probeStartedAt) >= self.timeouts.signal {
                actions += self.killContainer(uuid, reason: "still running after its container completed", at: now)
            }
        }
        if actions.contains(where: { if case .runnerEnded = $0 { true } else { false } }) {
            actions.append(.notifyScheduler)
        }
        return actions
    }

    /// A `--kill 15` finished. Exit 0 means the runner is gone.
    mutating func termSent(_ uuid: ContainerUUID, succeeded: Bool, at now: Instant) -> [Action] {
        guard succeeded else { return [] }
        let ended = self.closeRunner(uuid, at: now)
        return ended.isEmpty ? [] : ended + [.notifyScheduler]
    }

    /// The kill timer fired: send SIGTERM again, or give up after `TimeoutTERM` and drain the worker (unless it
    /// is held).
    mutating func killTick(_ uuid: ContainerUUID, at now: Instant) -> [Action] {
        let timeouts = self.timeouts
        let gaveUp = self.modifyRunners { runners -> Bool? in
            guard let kill = runners[uuid]?.kill, !kill.givenUp else { return nil }
            guard kill.requestedAt.duration(to: now) > timeouts.term else { return false }
            runners[uuid]?.kill?.givenUp = true
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

    /// Forgets a runner that has ended (running or finishing); the worker goes idle when it was the last one.
    mutating func closeRunner(_ uuid: ContainerUUID, at now: Instant) -> [Action] {
        let closed = self.modifyRunners { runners -> Bool in
            guard let runner = runners[uuid], runner.stage != .starting else { return false }
            runners[uuid] = nil
            return true
        }
        guard closed == true else { return [] }
        self.touch(at: now)
        return [.runnerEnded(uuid)]
    }
}
