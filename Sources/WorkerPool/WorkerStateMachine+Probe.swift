import DispatchModel

extension WorkerStateMachine {
    /// A probe in flight: what the worker looked like when it started.
    struct ProbeTicket: Hashable, Sendable {
        /// The worker's state when the probe began.
        let initialState: WorkerState
        /// When the probe began; timeouts are measured to here, so at least one probe starts after a timeout
        /// expires before the worker is given up on.
        let startedAt: Instant
        let generation: UInt64

        /// Whether the probe starts with the boot probe (and runner deployment): the worker has not booted yet.
        var needsBootProbe: Bool { self.initialState == .unknown || self.initialState == .booting }
    }

    /// What the run probe (`crunch-run --list`) gave.
    enum RunProbeOutcome: Hashable, Sendable {
        /// Not attempted: the worker is booting and its boot probe failed.
        case notRun
        /// The command failed.
        case failed
        /// The command succeeded with this report.
        case listed(RunnerList)
    }

    /// Starts a probe, unless one is already in flight or the worker is shutting down.
    mutating func probeStarting(at now: Instant) -> ProbeTicket? {
        guard !self.probing, self.destroyed == nil else { return nil }
        self.probing = true
        return ProbeTicket(initialState: self.state, startedAt: now, generation: self.currentGeneration)
    }

    /// Whether to run the run probe after the boot step: always once booted, and for an `unknown` worker even
    /// when its boot probe fails, so containers a previous dispatcher started are found.
    func shouldRunProbe(booted: Bool) -> Bool {
        booted || self.state == .unknown
    }

    /// Applies a finished probe whose run probe listed, byte for byte, the listing this machine was given last
    /// (`last` reads it: a busy worker's common probe). When that listing was applied and nothing visible changed
    /// since, it is applied again without reading it: the same as ``probeFinished(_:booted:run:at:)`` with it.
    mutating func probeFinished(
        _ ticket: ProbeTicket,
        booted: Bool,
        repeating last: () -> RunnerList,
        at now: Instant
    ) -> [Action] {
        guard booted, let applied = self.listingAppliedAt, applied == self.visibleChanges,
            self.runners.byUUID.count == self.runners.activeCount
        else {
            return self.probeFinished(ticket, booted: booted, run: .listed(last()), at: now)
        }
        // What the full path does with it: no stale lock to track, the probe time, the busy time (the listing
        // names a runner, or no runner is running), and nothing else (the runners match it).
        assert(Self.listingMatches(last().running, self.runners), "a repeated listing that no longer matches")
        assert(self.listingAppliedRunsAny == !last().running.isEmpty, "a repeated listing that is not the last")
        self.probing = false
        self.staleRunLockSince = nil
        self.probed = now
        if self.currentGeneration == ticket.generation && self.listingAppliedRunsAny { self.busy = now }
        return []
    }

    /// Applies a finished probe.
    ///
    /// - Parameters:
    ///   - booted: the worker counts as booted: it was already idle or running, or its boot probe passed and
    ///     the runner is in place.
    ///   - run: the run probe's outcome.
    mutating func probeFinished(
        _ ticket: ProbeTicket,
        booted: Bool,
        run: RunProbeOutcome,
        at now: Instant
    ) -> [Action] {
        self.probing = false
        self.listingAppliedAt = nil
        var actions: [Action] = []
        var list: RunnerList?
        if case .listed(let listed) = run {
            list = listed
            if self.staleRunLockPersisted(reported: !listed.stale.isEmpty, at: now) { list?.broken = true }
        }
        if list?.broken == true && self.idleBehavior == .run {
            actions += self.reportingBootOutcome(.failure)
            actions += self.setIdleBehavior(.drain, at: now)
        }
        let listed = list?.running ?? []
        // A booting worker whose boot probe failed has no runner to learn of (the pool does not run its run
        // probe): it did not answer.
        let bootFailed = !booted && self.state == .booting
        if list == nil || bootFailed || (!booted && listed.isEmpty && !self.runners.contains(stage: .running)) {
            if self.destroyed != nil && self.currentGeneration != ticket.generation {
                // Shut down while the probe ran: nothing left to decide.
                return actions
            }
            let silentFor = self.probed.duration(to: ticket.startedAt)
            if let shutdown = self.shutdownIfUnresponsive(silentFor: silentFor, at: now) {
                actions += shutdown
                if !booted { actions += self.reportingBootOutcome(.failure) }
            }
            return actions
        }

        self.probed = now
        if let list, self.runners.byUUID.count > self.runners.activeCount {
            // Valid whatever changed meanwhile: it only concerns runners marked before the probe started.
            actions += self.finishingProbed(listed: Set(list.running), probeStartedAt: ticket.startedAt, at: now)
        }
        guard self.currentGeneration == ticket.generation else {
            // A start, kill or sync changed the worker after the probe began: the listing may predate a
            // container that was just started. Leave the runners alone; the next probe catches up.
            return actions
        }
        if let first = listed.first {
            self.busy = now
            // Written only when it moves (the write alone counts as a visible change, ``visibleChanges``).
            if self.lastUUID != first { self.lastUUID = first }
        } else if self.runners.contains(stage: .running) {
            // It was busy until some time between the last probe and now; now is the first chance to use it.
            self.busy = now
        }
        let before = self.state
        // It booted: it is ready, with whatever runners its listing shows.
        if booted, case .booting = self.phase { self.phase = .ready(Runners()) }
        var changed = self.updateRunning(listed, actions: &actions, at: now)
        if booted && (before == .unknown || before == .booting) {
            if before == .booting { actions.append(.observeTimeToReady(self.appeared.duration(to: now))) }
            if case .unknown(let runners) = self.phase { self.phase = .ready(runners) }
            changed = true
        }
        if changed {
            self.touch(at: now)
            if booted && (ticket.initialState == .unknown || ticket.initialState == .booting) {
                actions += self.reportingBootOutcome(.success)
            }
            actions.append(.notifyScheduler)
        }
        if booted, let list, !list.broken, list.stale.isEmpty, case .ready = self.phase {
            self.listingAppliedAt = self.visibleChanges
            self.listingAppliedRunsAny = !list.running.isEmpty
        }
        return actions
    }

    /// Destroys a worker whose probes have failed for too long: `TimeoutBooting` before it booted,
    /// `TimeoutProbe` after. A held worker is never destroyed this way.
    private mutating func shutdownIfUnresponsive(silentFor: Duration, at now: Instant) -> [Action]? {
        guard self.idleBehavior != .hold else { return nil }
        let notBooted = self.notBooted
        let threshold = notBooted ? self.timeouts.booting : self.timeouts.probe
        guard silentFor >= threshold else { return nil }
        return self.shutdown(reason: notBooted ? .bootTimeout : .probeTimeout, at: now)
    }

    /// Makes the runner set match a run probe's listing. Returns whether anything changed.
    private mutating func updateRunning(
        _ listed: [ContainerUUID],
        actions: inout [Action],
        at now: Instant
    ) -> Bool {
        if Self.listingMatches(listed, self.runners) { return false }
        var ended: [ContainerUUID] = []
        let changed =
            self.modifyRunners { runners -> Bool in
                var changed = false
                for uuid in listed {
                    switch runners[uuid]?.stage {
                    case .running, .finishing:
                        continue
                    case .starting:
                        runners[uuid]?.stage = .running
                    case nil:
                        // Not started by this process: a previous dispatcher did.
                        runners[uuid] = Runner(.running)
                        actions.append(.adoptRunner(uuid))
                    }
                    changed = true
                }
                let alive = Set(listed)
                ended = runners.inStage(.running).keys.filter { !alive.contains($0) }.sorted()
                return changed || !ended.isEmpty
            } ?? false
        for uuid in ended { actions += self.closeRunner(uuid, at: now) }
        return changed
    }

    /// Whether a listing says what `runners` already knows: every listed runner is running or finishing, and
    /// every running one is listed, so ``updateRunning(_:actions:at:)`` would change nothing. The common probe
    /// (a busy worker, nothing started or ended since the last one) is answered by this walk, without the
    /// sets and the sort a change needs.
    static func listingMatches(_ listed: [ContainerUUID], _ runners: Runners) -> Bool {
        var listedRunning = 0
        for uuid in listed {
            switch runners[uuid]?.stage {
            case .running: listedRunning += 1
            case .finishing: continue
            case .starting, nil: return false
            }
        }
        var running = 0
        for runner in runners.byUUID.values where runner.stage == .running { running += 1 }
        return running == listedRunning && !Self.repeatsAName(listed)
    }

    /// Whether a listing names a runner twice (the counts above would then mislead).
    private static func repeatsAName(_ listed: [ContainerUUID]) -> Bool {
        guard listed.count > 1 else { return false }
        guard listed.count <= 16 else { return Set(listed).count != listed.count }
        for i in listed.indices.dropFirst() where listed[..<i].contains(listed[i]) { return true }
        return false
    }
}
