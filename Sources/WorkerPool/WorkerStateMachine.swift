public import DispatchModel

/// The lifecycle of one worker (one cloud VM), as a value whose event methods return the actions the owner
/// must perform.
///
/// The machine decides; the worker pool acts. It never talks to the cloud or to the VM itself: a probe, a
/// destroy, a tag save or a kill is an ``Action`` the pool carries out, reporting the result back as another
/// event. Every transition of reference §2.2 and every timeout of §2.4 lives here, so it is tested as tables.
///
/// Time comes in with each event, so the machine works with any clock.
public struct WorkerStateMachine<Instant: InstantProtocol & Sendable>: Sendable where Instant.Duration == Duration {
    /// The timeouts that drive the machine; defaults are Arvados's.
    public struct Timeouts: Hashable, Sendable {
        /// `TimeoutBooting`: an unknown or booting worker with no successful probe for this long is destroyed.
        public var booting: Duration = .seconds(600)
        /// `TimeoutProbe`: a booted worker whose run probe fails for this long is destroyed.
        public var probe: Duration = .seconds(600)
        /// `TimeoutIdle`: an idle worker is destroyed after this long with nothing to run.
        public var idle: Duration = .seconds(60)
        /// `TimeoutStaleRunLock`: a `stale` lock reported for longer than this marks the worker broken.
        public var staleRunLock: Duration = .seconds(5)
        /// `TimeoutTERM`: stop sending SIGTERM to a runner after this long and drain the worker.
        public var term: Duration = .seconds(120)
        /// `TimeoutSignal`: the interval between SIGTERM attempts.
        public var signal: Duration = .seconds(5)
        /// `TimeoutShutdown`: destroy again if the instance is still listed this long after the last attempt.
        public var shutdown: Duration = .seconds(10)

        public init() {}
    }

    /// Something the owner must do.
    public enum Action: Hashable, Sendable {
        /// Call the cloud's destroy for the instance.
        case destroyInstance(reason: ShutdownReason)
        /// Count a boot outcome (at most once per worker).
        case reportBootOutcome(BootOutcome)
        /// Save the `IdleBehavior` (and `InstanceType`) tags on the instance.
        case saveTags
        /// Tell the scheduler that the pool changed.
        case notifyScheduler
        /// Start a runner for this container on the VM (`--detach`).
        case startRunner(ContainerUUID)
        /// Found a runner this process did not start (a previous dispatcher did): track it.
        case adoptRunner(ContainerUUID)
        /// The container's runner is gone from the VM: record when it exited.
        case runnerEnded(ContainerUUID)
        /// Run `--kill 15` for the container now.
        case sendTerm(ContainerUUID)
        /// Call ``killTick(_:at:)`` for the container after this delay.
        case scheduleKillTick(ContainerUUID, after: Duration)
        /// The worker became ready for containers: observe time-to-ready (booting workers only).
        case observeTimeToReady(Duration)
    }

    /// What the pool knows about one runner on the VM.
    public struct Runner: Hashable, Sendable {
        /// When the first SIGTERM was sent, once a kill has been requested.
        public var killRequestedAt: Instant?
        /// Why the kill was requested.
        public var killReason: String?
        /// SIGTERM went unanswered for `TimeoutTERM`: the pool has given up on this runner.
        public var givenUp: Bool = false
        /// When the scheduler reported the container Complete (the runner is then in ``finishing``).
        public var finishedAt: Instant?

        public init() {}
    }

    public let timeouts: Timeouts
    public internal(set) var state: WorkerState
    public internal(set) var idleBehavior: IdleBehavior
    /// When the instance first appeared (or was created).
    public let appeared: Instant
    /// The last successful probe, or the appearance.
    public internal(set) var probed: Instant
    /// The last time the worker was known to be busy (or appeared).
    public internal(set) var busy: Instant
    /// The last time anything changed that a concurrent probe or cloud list could have missed.
    public internal(set) var updated: Instant
    /// When destroy was last requested.
    public internal(set) var destroyed: Instant?
    /// The container this worker ran most recently.
    public internal(set) var lastUUID: ContainerUUID?
    /// Runners being started (`--detach` in flight).
    public internal(set) var starting: [ContainerUUID: Runner] = [:]
    /// Runners the last probe or start confirmed.
    public internal(set) var running: [ContainerUUID: Runner] = [:]
    /// Runners whose container is Complete: each finalized its container and exits by itself, so it no longer
    /// counts against the worker's capacity. A probe started after that which no longer lists one ends it; one
    /// still listed `TimeoutSignal` after is sent SIGTERM as any other runner (see ``runnerFinished(_:at:)``).
    public internal(set) var finishing: [ContainerUUID: Runner] = [:]
    /// The boot outcome, once reported.
    public internal(set) var bootOutcome: BootOutcome?
    /// Whether a probe is in flight; the pool never runs two at once on one worker.
    public internal(set) var probing = false
    /// Since when the run probe has reported a stale lock.
    public internal(set) var staleRunLockSince: Instant?
    /// Bumped on every change a probe in flight could race with.
    var generation: UInt64 = 0

    /// A worker for an instance this process just created (`booting`) or found in the cloud list (`unknown`).
    public init(
        state: WorkerState,
        idleBehavior: IdleBehavior,
        appeared: Instant,
        timeouts: Timeouts = .init()
    ) {
        precondition(state == .booting || state == .unknown, "a new worker is booting or unknown")
        self.state = state
        self.idleBehavior = idleBehavior
        self.appeared = appeared
        self.probed = appeared
        self.busy = appeared
        self.updated = appeared
        self.timeouts = timeouts
    }

    /// Every container with a runner on this worker, starting or running, sorted.
    public var containers: [ContainerUUID] {
        (Array(self.starting.keys) + Array(self.running.keys)).sorted()
    }

    /// Whether a runner for `uuid` is starting, running or finishing on this worker.
    public func hasContainer(_ uuid: ContainerUUID) -> Bool {
        self.starting[uuid] != nil || self.running[uuid] != nil || self.finishing[uuid] != nil
    }

    /// Whether the scheduler may start containers here now.
    public var acceptsContainers: Bool {
        self.idleBehavior == .run && (self.state == .idle || self.state == .running)
    }

    // MARK: - Operator and scheduler requests

    /// Sets the idle behaviour (hold, drain, run), persisting it and shutting down if it now applies.
    public mutating func setIdleBehavior(_ behavior: IdleBehavior, at now: Instant) -> [Action] {
        self.idleBehavior = behavior
        return [.saveTags] + self.shutdownIfIdle(at: now)
    }

    /// The scheduler asks to shut down a worker it does not need: only a booting or idle worker that is not
    /// held. Returns `nil` if this worker is not eligible.
    public mutating func shutdownIfUnneeded(at now: Instant) -> [Action]? {
        guard self.idleBehavior != .hold, self.state == .booting || self.state == .idle else { return nil }
        return self.reportingBootOutcome(.aborted) + self.shutdown(reason: .unneeded, at: now)
    }

    /// An operator kills the instance: destroy now, whatever its state or behaviour, abandoning containers.
    public mutating func kill(at now: Instant) -> [Action] {
        self.reportingBootOutcome(.aborted) + self.shutdown(reason: .killed, at: now)
    }

    // MARK: - Timers

    /// The periodic check (each probe tick): shut down if idle too long, drained, or unknown too long.
    public mutating func shutdownIfIdle(at now: Instant) -> [Action] {
        guard let reason = self.shutdownReason(at: now) else { return [] }
        return self.reportingBootOutcome(.aborted) + self.shutdown(reason: reason, at: now)
    }

    /// Why the worker should shut down now, if it should.
    ///
    /// A held worker never shuts down by itself. One difference from Arvados (reference §9.4 item 1): an
    /// `unknown` worker past `TimeoutBooting` is destroyed only when no runner is known on it, so a VM whose
    /// boot probe fails after a dispatcher restart keeps the containers it is running. That keeping is
    /// bounded: it ends when its runners end, when its probes stop answering for `TimeoutBooting`, and, once
    /// it is draining (reported broken, or a runner ignored SIGTERM), when every runner it listed is given up.
    func shutdownReason(at now: Instant) -> ShutdownReason? {
        guard self.idleBehavior != .hold else { return nil }
        let draining = self.idleBehavior == .drain
        // Closures, not key paths: a key path into this generic type is instantiated at run time at every call,
        // and the probe loop asks every worker this every `ProbeInterval`.
        var allGivenUp: Bool {
            self.starting.values.allSatisfy { $0.givenUp } && self.running.values.allSatisfy { $0.givenUp }
        }
        switch self.state {
        case .unknown:
            let unused = self.starting.isEmpty && self.running.isEmpty
            // With no runner known it may not have been listed yet: only the boot timeout applies.
            if draining && !unused && allGivenUp { return .drained }
            return unused && self.appeared.duration(to: now) >= self.timeouts.booting ? .bootTimeout : nil
        case .booting:
            return draining ? .drained : nil
        case .idle:
            if draining { return .drained }
            return self.busy.duration(to: now) >= self.timeouts.idle ? .idleTimeout : nil
        case .running:
            guard draining else { return nil }
            return allGivenUp ? .drained : nil
        case .shutdown:
            return nil
        }
    }

    /// The cloud still lists the instance after a destroy: destroy again once `TimeoutShutdown` has passed.
    public mutating func stillListed(at now: Instant) -> [Action] {
        guard self.state == .shutdown, let destroyed = self.destroyed,
            destroyed.duration(to: now) >= self.timeouts.shutdown
        else { return [] }
        self.destroyed = now
        return [.destroyInstance(reason: .destroyRetry)]
    }

    /// The instance is gone from a cloud list fetched after the worker's last update: the pool removes the
    /// worker and abandons its runners.
    public mutating func disappeared() -> [Action] {
        self.reportingBootOutcome(.disappeared) + [.notifyScheduler]
    }

    // MARK: - Internals shared by the event files

    mutating func shutdown(reason: ShutdownReason, at now: Instant) -> [Action] {
        self.touch(at: now)
        self.destroyed = now
        self.state = .shutdown
        return [.notifyScheduler, .destroyInstance(reason: reason)]
    }

    mutating func reportingBootOutcome(_ outcome: BootOutcome) -> [Action] {
        guard self.bootOutcome == nil else { return [] }
        self.bootOutcome = outcome
        return [.reportBootOutcome(outcome)]
    }

    /// Records a change that an in-flight probe or cloud list may not have seen.
    mutating func touch(at now: Instant) {
        self.updated = now
        self.generation &+= 1
    }

    var currentGeneration: UInt64 { self.generation }

    mutating func settleIdleRunning() {
        if self.state == .idle && !(self.starting.isEmpty && self.running.isEmpty) {
            self.state = .running
        } else if self.state == .running && self.starting.isEmpty && self.running.isEmpty {
            self.state = .idle
        }
    }
}
