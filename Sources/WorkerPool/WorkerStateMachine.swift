import DispatchModel

/// The lifecycle of one worker (one cloud VM), as a value whose event methods return the actions the owner
/// must perform.
///
/// The machine decides; the worker pool acts. It never talks to the cloud or to the VM itself: a probe, a
/// destroy, a tag save or a kill is an ``Action`` the pool carries out, reporting the result back as another
/// event. Every transition of reference §2.2 and every timeout of §2.4 lives here, so it is tested as tables.
///
/// Time comes in with each event, so the machine works with any clock.
struct WorkerStateMachine<Instant: InstantProtocol & Sendable>: Sendable where Instant.Duration == Duration {
    typealias Timeouts = WorkerTimeouts

    /// Something the owner must do.
    enum Action: Hashable, Sendable {
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

    // Only the machine's own event methods (this file and its extensions) change these; the pool reads them.
    let timeouts: Timeouts
    /// The lifecycle stage and the data only that stage has.
    var phase: Phase { didSet { self.visibleChanges &+= 1 } }
    var idleBehavior: IdleBehavior { didSet { self.visibleChanges &+= 1 } }
    /// When the instance first appeared (or was created).
    let appeared: Instant
    /// The last successful probe, or the appearance.
    var probed: Instant
    /// The last time the worker was known to be busy (or appeared).
    var busy: Instant
    /// The last time anything changed that a concurrent probe or cloud list could have missed.
    var updated: Instant
    /// The container this worker ran most recently.
    var lastUUID: ContainerUUID? { didSet { self.visibleChanges &+= 1 } }
    /// Moves at every write of what the worker's views are made of (``phase``, ``idleBehavior``, ``lastUUID``),
    /// whether or not the value changed: a caller that reads it before and after a change knows, in O(1), that
    /// none of them was touched. (The observers do not read the old value, so the phase's runner tables are
    /// still changed in place.)
    private(set) var visibleChanges: UInt64 = 0
    /// The boot outcome, once reported.
    var bootOutcome: BootOutcome?
    /// Whether a probe is in flight; the pool never runs two at once on one worker.
    var probing = false
    /// Since when the run probe has reported a stale lock.
    var staleRunLockSince: Instant?
    /// ``visibleChanges`` when a run probe's listing (no stale lock, not broken) was last applied in full to this
    /// ready worker: while it has not moved, the runners are as that listing left them, so the same listing again
    /// would change nothing (``probeFinished(_:booted:repeating:at:)``).
    var listingAppliedAt: UInt64?
    /// Whether that listing named a runner.
    var listingAppliedRunsAny = false
    /// Bumped on every change a probe in flight could race with.
    private var generation: UInt64 = 0

    /// A worker for an instance this process just created (`booting`) or found in the cloud list (`unknown`).
    init(
        state: WorkerState,
        idleBehavior: IdleBehavior,
        appeared: Instant,
        timeouts: Timeouts = .init()
    ) {
        precondition(state == .booting || state == .unknown, "a new worker is booting or unknown")
        self.init(
            state == .booting ? .booting : .unknown(Runners()),
            idleBehavior: idleBehavior,
            appeared: appeared,
            timeouts: timeouts
        )
    }

    /// A worker in `phase` whose last probe, busy time and update were when it appeared.
    init(_ phase: Phase, idleBehavior: IdleBehavior, appeared: Instant, timeouts: Timeouts = .init()) {
        self.phase = phase
        self.idleBehavior = idleBehavior
        self.appeared = appeared
        self.probed = appeared
        self.busy = appeared
        self.updated = appeared
        self.timeouts = timeouts
    }

    // MARK: - Reading the phase

    /// The state the pool, its views and its metrics show.
    var state: WorkerState {
        switch self.phase {
        case .unknown: .unknown
        case .booting: .booting
        case .ready(let runners): runners.hasActive ? .running : .idle
        case .shutdown: .shutdown
        }
    }

    /// Every runner known on the worker (none while booting).
    var runners: Runners {
        switch self.phase {
        case .unknown(let runners), .ready(let runners), .shutdown(_, let runners): runners
        case .booting: Runners()
        }
    }

    /// When destroy was last requested, once the worker is shutting down.
    var destroyed: Instant? {
        if case .shutdown(let destroyedAt, _) = self.phase { destroyedAt } else { nil }
    }

    /// Runners being started (`--detach` in flight).
    var starting: [ContainerUUID: Runner] { self.runners.inStage(.starting) }
    /// Runners the last probe or start confirmed.
    var running: [ContainerUUID: Runner] { self.runners.inStage(.running) }
    /// Runners whose container is Complete: each finalized its container and exits by itself, so it no longer
    /// counts against the worker's capacity. A probe started after that which no longer lists one ends it; one
    /// still listed `TimeoutSignal` after is sent SIGTERM as any other runner (see ``runnerFinished(_:at:)``).
    var finishing: [ContainerUUID: Runner] {
        switch self.phase {
        case .unknown(let runners), .ready(let runners), .shutdown(_, let runners):
            // Most workers have none: skip the filter.
            runners.byUUID.count == runners.activeCount ? [:] : runners.inStage(.finishing(since: self.appeared))
        case .booting: [:]
        }
    }

    /// Every container with a runner on this worker, starting or running, sorted.
    var containers: [ContainerUUID] {
        // Most workers have one runner or none: no closure, no sort for those.
        switch self.runners.byUUID.count {
        case 0: return []
        case 1: return self.runners.byUUID.first.flatMap { $0.value.isActive ? [$0.key] : nil } ?? []
        default: return self.runners.byUUID.compactMap { $0.value.isActive ? $0.key : nil }.sorted()
        }
    }

    /// Whether a runner for `uuid` is starting, running or finishing on this worker.
    func hasContainer(_ uuid: ContainerUUID) -> Bool {
        self.runners[uuid] != nil
    }

    /// Whether the scheduler may start containers here now.
    var acceptsContainers: Bool {
        guard self.idleBehavior == .run, case .ready = self.phase else { return false }
        return true
    }

    /// Whether the worker has not passed a probe yet (`unknown` or `booting`).
    var notBooted: Bool {
        switch self.phase {
        case .unknown, .booting: true
        case .ready, .shutdown: false
        }
    }

    // MARK: - Operator and scheduler requests

    /// Sets the idle behaviour (hold, drain, run), persisting it and shutting down if it now applies.
    mutating func setIdleBehavior(_ behavior: IdleBehavior, at now: Instant) -> [Action] {
        self.idleBehavior = behavior
        return [.saveTags] + self.shutdownIfIdle(at: now)
    }

    /// The scheduler asks to shut down a worker it does not need: only a booting or idle worker that is not
    /// held. Returns `nil` if this worker is not eligible.
    mutating func shutdownIfUnneeded(at now: Instant) -> [Action]? {
        guard self.idleBehavior != .hold, self.state == .booting || self.state == .idle else { return nil }
        return self.reportingBootOutcome(.aborted) + self.shutdown(reason: .unneeded, at: now)
    }

    /// An operator kills the instance: destroy now, whatever its state or behaviour, abandoning containers.
    mutating func kill(at now: Instant) -> [Action] {
        self.reportingBootOutcome(.aborted) + self.shutdown(reason: .killed, at: now)
    }

    // MARK: - Timers

    /// The periodic check (each probe tick): shut down if idle too long, drained, or unknown too long.
    mutating func shutdownIfIdle(at now: Instant) -> [Action] {
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
        switch self.phase {
        case .unknown(let runners):
            let unused = !runners.contains(stage: .starting) && !runners.contains(stage: .running)
            // With no runner known it may not have been listed yet: only the boot timeout applies.
            if draining && !unused && Self.allGivenUp(runners) { return .drained }
            return unused && self.appeared.duration(to: now) >= self.timeouts.booting ? .bootTimeout : nil
        case .booting:
            return draining ? .drained : nil
        case .ready(let runners) where !runners.hasActive:
            if draining { return .drained }
            return self.busy.duration(to: now) >= self.timeouts.idle ? .idleTimeout : nil
        case .ready(let runners):
            guard draining else { return nil }
            return Self.allGivenUp(runners) ? .drained : nil
        case .shutdown:
            return nil
        }
    }

    /// Whether every starting or running runner has been given up on.
    private static func allGivenUp(_ runners: Runners) -> Bool {
        runners.byUUID.values.allSatisfy { !$0.isActive || $0.givenUp }
    }

    /// The cloud still lists the instance after a destroy: destroy again once `TimeoutShutdown` has passed.
    mutating func stillListed(at now: Instant) -> [Action] {
        guard case .shutdown(let destroyed, let runners) = self.phase,
            destroyed.duration(to: now) >= self.timeouts.shutdown
        else { return [] }
        self.phase = .shutdown(destroyedAt: now, runners: runners)
        return [.destroyInstance(reason: .destroyRetry)]
    }

    /// The instance is gone from a cloud list fetched after the worker's last update: the pool removes the
    /// worker and abandons its runners.
    mutating func disappeared() -> [Action] {
        self.reportingBootOutcome(.disappeared) + [.notifyScheduler]
    }

    // MARK: - Internals shared by the event files

    mutating func shutdown(reason: ShutdownReason, at now: Instant) -> [Action] {
        self.touch(at: now)
        self.phase = .shutdown(destroyedAt: now, runners: self.runners)
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

    /// Tracks stale-lock reports; `true` once one has persisted longer than `TimeoutStaleRunLock`.
    mutating func staleRunLockPersisted(reported: Bool, at now: Instant) -> Bool {
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

    /// Applies `body` to the worker's runners in place; `nil` while booting (no runner can be known then).
    mutating func modifyRunners<T>(_ body: (inout Runners) -> T) -> T? {
        // The phase is set to `.booting` for the duration of `body` so the runners' storage is uniquely
        // referenced and changed in place, not copied (as SwiftNIO's state machines do with `.modifying`).
        switch self.phase {
        case .booting:
            return nil
        case .unknown(var runners):
            self.phase = .booting
            defer { self.phase = .unknown(runners) }
            return body(&runners)
        case .ready(var runners):
            self.phase = .booting
            defer { self.phase = .ready(runners) }
            return body(&runners)
        case .shutdown(let destroyedAt, var runners):
            self.phase = .booting
            defer { self.phase = .shutdown(destroyedAt: destroyedAt, runners: runners) }
            return body(&runners)
        }
    }
}
