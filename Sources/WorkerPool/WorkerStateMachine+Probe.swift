public import DispatchModel

extension WorkerStateMachine {
    /// A probe in flight: what the worker looked like when it started.
    public struct ProbeTicket: Hashable, Sendable {
        /// The worker's state when the probe began.
        public let initialState: WorkerState
        /// When the probe began; timeouts are measured to here, so at least one probe starts after a timeout
        /// expires before the worker is given up on.
        public let startedAt: Instant
        let generation: UInt64

        /// Whether the probe starts with the boot probe (and runner deployment): the worker has not booted yet.
        public var needsBootProbe: Bool { self.initialState == .unknown || self.initialState == .booting }
    }

    /// What the run probe (`crunch-run --list`) gave.
    public enum RunProbeOutcome: Hashable, Sendable {
        /// Not attempted: the worker is booting and its boot probe failed.
        case notRun
        /// The command failed.
        case failed
        /// The command succeeded with this report.
        case listed(RunnerList)
    }

    /// Starts a probe, unless one is already in flight or the worker is shutting down.
    public mutating func probeStarting(at now: Instant) -> ProbeTicket? {
        guard !self.probing, self.state != .shutdown else { return nil }
        self.probing = true
        return ProbeTicket(initialState: self.state, startedAt: now, generation: self.currentGeneration)
    }

    /// Whether to run the run probe after the boot step: always once booted, and for an `unknown` worker even
    /// when its boot probe fails, so containers a previous dispatcher started are found.
    public func shouldRunProbe(booted: Bool) -> Bool {
        booted || self.state == .unknown
    }

    /// Applies a finished probe.
    ///
    /// - Parameters:
    ///   - booted: the worker counts as booted: it was already idle or running, or its boot probe passed and
    ///     the runner is in place.
    ///   - run: the run probe's outcome.
    public mutating func probeFinished(
        _ ticket: ProbeTicket,
        booted: Bool,
        run: RunProbeOutcome,
        at now: Instant
    ) -> [Action] {
        self.probing = false
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
        if list == nil || (!booted && listed.isEmpty && self.running.isEmpty) {
            if self.state == .shutdown && self.currentGeneration != ticket.generation {
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
        if let list, !self.finishing.isEmpty {
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
            self.lastUUID = first
        } else if !self.running.isEmpty {
            // It was busy until some time between the last probe and now; now is the first chance to use it.
            self.busy = now
        }
        var changed = self.updateRunning(listed, actions: &actions, at: now)
        if booted && (self.state == .unknown || self.state == .booting) {
            if self.state == .booting { actions.append(.observeTimeToReady(self.appeared.duration(to: now))) }
            self.state = .idle
            changed = true
        }
        guard changed else { return actions }
        self.settleIdleRunning()
        self.touch(at: now)
        if booted && (ticket.initialState == .unknown || ticket.initialState == .booting) {
            actions += self.reportingBootOutcome(.success)
        }
        actions.append(.notifyScheduler)
        return actions
    }

    /// Tracks stale-lock reports; `true` once one has persisted longer than `TimeoutStaleRunLock`.
    private mutating func staleRunLockPersisted(reported: Bool, at now: Instant) -> Bool {
        guard reported else {
            self.staleRunLockSince = nil
            return false
        }
        guard let since = self.staleRunLockSince else {
            self.staleRunLockSince = now
            return false
        }
        return since.duration(to: now) > self.timeouts.staleRunLock
    }

    /// Destroys a worker whose probes have failed for too long: `TimeoutBooting` before it booted,
    /// `TimeoutProbe` after. A held worker is never destroyed this way.
    private mutating func shutdownIfUnresponsive(silentFor: Duration, at now: Instant) -> [Action]? {
        guard self.idleBehavior != .hold else { return nil }
        let notBooted = self.state == .unknown || self.state == .booting
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
        var changed = false
        for uuid in listed where self.running[uuid] == nil && self.finishing[uuid] == nil {
            if let runner = self.starting.removeValue(forKey: uuid) {
                self.running[uuid] = runner
            } else {
                // Not started by this process: a previous dispatcher did.
                self.running[uuid] = Runner()
                actions.append(.adoptRunner(uuid))
            }
            changed = true
        }
        let alive = Set(listed)
        for uuid in self.running.keys.sorted() where !alive.contains(uuid) {
            actions += self.closeRunner(uuid, at: now)
            changed = true
        }
        return changed
    }
}
