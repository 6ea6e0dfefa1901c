import DispatchModel
import Testing

@testable import WorkerPool

/// The transitions of reference §2.2 and the timeouts of §2.4, one row each.
@Suite("Worker transitions")
struct WorkerTransitionTests {
    static let t0 = ContinuousClock.now
    static let uuid: ContainerUUID = "zzzzz-dz642-000000000000001"
    static let other: ContainerUUID = "zzzzz-dz642-000000000000002"

    static func machine(
        _ state: WorkerState,
        _ behavior: IdleBehavior = .run,
        running: [ContainerUUID] = []
    ) -> Machine {
        Self.machine(state, behavior, runners: Machine.Runners(running: running))
    }

    /// A worker in `state` with `runners`. The phase holds only what the state can have: a booting worker has
    /// no runners, and a running one has at least one (``other`` when none is given).
    static func machine(_ state: WorkerState, _ behavior: IdleBehavior, runners: Machine.Runners) -> Machine {
        let phase: Machine.Phase =
            switch state {
            case .unknown: .unknown(runners)
            case .booting: .booting
            case .idle: .ready(runners)
            case .running: .ready(runners.hasActive ? runners : Machine.Runners(running: [Self.other]))
            case .shutdown: .shutdown(destroyedAt: Self.t0, runners: runners)
            }
        return Machine(phase, idleBehavior: behavior, appeared: Self.t0)
    }

    static func at(_ seconds: Int) -> ContinuousClock.Instant { Self.t0 + .seconds(seconds) }

    static func destroyReason(_ actions: [Machine.Action]) -> ShutdownReason? {
        for case .destroyInstance(let reason) in actions { return reason }
        return nil
    }

    struct IdleCase: Sendable, CustomTestStringConvertible {
        var state: WorkerState
        var behavior: IdleBehavior
        var elapsed: Int
        var runners: [Bool] = []  // given up?
        var expected: ShutdownReason?
        var testDescription: String { "\(state) \(behavior) after \(elapsed)s, runners \(runners)" }
    }

    static let idleCases: [IdleCase] = [
        IdleCase(state: .idle, behavior: .run, elapsed: 59, expected: nil),
        IdleCase(state: .idle, behavior: .run, elapsed: 60, expected: .idleTimeout),
        IdleCase(state: .idle, behavior: .hold, elapsed: 36_000, expected: nil),
        IdleCase(state: .idle, behavior: .drain, elapsed: 0, expected: .drained),
        IdleCase(state: .booting, behavior: .drain, elapsed: 0, expected: .drained),
        IdleCase(state: .booting, behavior: .run, elapsed: 36_000, expected: nil),
        IdleCase(state: .running, behavior: .run, elapsed: 36_000, runners: [false], expected: nil),
        IdleCase(state: .running, behavior: .drain, elapsed: 0, runners: [false], expected: nil),
        IdleCase(state: .running, behavior: .drain, elapsed: 0, runners: [true, false], expected: nil),
        IdleCase(state: .running, behavior: .drain, elapsed: 0, runners: [true, true], expected: .drained),
        IdleCase(state: .unknown, behavior: .run, elapsed: 599, expected: nil),
        IdleCase(state: .unknown, behavior: .run, elapsed: 600, expected: .bootTimeout),
        IdleCase(state: .unknown, behavior: .hold, elapsed: 36_000, expected: nil),
        // Differs from Arvados on purpose (reference §9.4 item 1): containers on an unknown worker keep it.
        IdleCase(state: .unknown, behavior: .run, elapsed: 36_000, runners: [false], expected: nil),
        // …but the keeping is bounded: drained (broken, or a runner ignored SIGTERM) with every listed runner
        // given up, it goes; with none listed yet only the boot timeout applies.
        IdleCase(state: .unknown, behavior: .drain, elapsed: 0, runners: [true, true], expected: .drained),
        IdleCase(state: .unknown, behavior: .drain, elapsed: 0, runners: [true, false], expected: nil),
        IdleCase(state: .unknown, behavior: .drain, elapsed: 0, expected: nil),
        IdleCase(state: .unknown, behavior: .drain, elapsed: 600, expected: .bootTimeout),
        IdleCase(state: .shutdown, behavior: .run, elapsed: 36_000, expected: nil),
    ]

    @Test("The periodic check shuts workers down by state, behaviour and time", arguments: idleCases)
    func idleCheck(_ row: IdleCase) {
        var runners = Machine.Runners()
        for (index, givenUp) in row.runners.enumerated() {
            // A runner is given up on only after a kill was requested.
            let kill = givenUp ? Machine.Runner.Kill(requestedAt: Self.t0, reason: "test", givenUp: true) : nil
            runners[ContainerUUID(rawValue: "zzzzz-dz642-00000000000000\(index)")] = Machine.Runner(
                .running,
                kill: kill
            )
        }
        var machine = Self.machine(row.state, row.behavior, runners: runners)
        let actions = machine.shutdownIfIdle(at: Self.at(row.elapsed))
        #expect(Self.destroyReason(actions) == row.expected)
        #expect(machine.state == (row.expected == nil ? row.state : .shutdown))
        if row.expected != nil {
            #expect(actions.contains(.reportBootOutcome(.aborted)))
            #expect(actions.contains(.notifyScheduler))
            #expect(machine.destroyed == Self.at(row.elapsed))
        }
    }

    @Test(
        "The scheduler may shut down only booting or idle workers that are not held",
        arguments: [
            (WorkerState.booting, IdleBehavior.run, true),
            (.idle, .run, true),
            (.idle, .drain, true),
            (.idle, .hold, false),
            (.booting, .hold, false),
            (.running, .run, false),
            (.unknown, .run, false),
            (.shutdown, .run, false),
        ]
    )
    func schedulerShutdown(state: WorkerState, behavior: IdleBehavior, allowed: Bool) {
        var machine = Self.machine(state, behavior)
        let actions = machine.shutdownIfUnneeded(at: Self.at(1))
        #expect((actions != nil) == allowed)
        if allowed {
            #expect(Self.destroyReason(actions ?? []) == .unneeded)
            #expect(machine.state == .shutdown)
        }
    }

    @Test("An operator kill destroys a worker in any state, held or not", arguments: WorkerState.allCases)
    func operatorKill(state: WorkerState) {
        var machine = Self.machine(state, .hold, running: [Self.uuid])
        let actions = machine.kill(at: Self.at(1))
        #expect(Self.destroyReason(actions) == .killed)
        #expect(machine.state == .shutdown)
    }

    @Test(
        "Only an idle or running worker whose behaviour is run takes containers",
        arguments: [
            (WorkerState.idle, IdleBehavior.run, true),
            (.running, .run, true),
            (.idle, .hold, false),
            (.idle, .drain, false),
            (.booting, .run, false),
            (.unknown, .run, false),
            (.shutdown, .run, false),
        ]
    )
    func startEligibility(state: WorkerState, behavior: IdleBehavior, accepted: Bool) {
        var machine = Self.machine(state, behavior)
        let actions = machine.startContainer(Self.uuid, at: Self.at(1))
        #expect((actions != nil) == accepted)
        if accepted {
            #expect(actions?.first == .startRunner(Self.uuid))
            #expect(machine.state == .running)
            // A running worker already runs one (``other``): a worker cannot be running with nothing on it.
            #expect(machine.containers == (state == .running ? [Self.uuid, Self.other] : [Self.uuid]))
        }
    }

    @Test("Starting the same container twice is refused")
    func startTwice() {
        var machine = Self.machine(.idle)
        #expect(machine.startContainer(Self.uuid, at: Self.at(1)) != nil)
        #expect(machine.startContainer(Self.uuid, at: Self.at(2)) == nil)
    }

    @Test("A started container runs, then its exit returns the worker to idle and resets the idle timer")
    func startRunExit() throws {
        var machine = Self.machine(.idle)
        _ = machine.startContainer(Self.uuid, at: Self.at(1))
        machine.runnerStarted(Self.uuid, at: Self.at(2))
        #expect(machine.running.keys.contains(Self.uuid) && machine.starting.isEmpty)
        #expect(machine.lastUUID == Self.uuid)

        let started = machine.probeStarting(at: Self.at(100))
        let ticket = try #require(started)
        let actions = machine.probeFinished(ticket, booted: true, run: .listed(RunnerList()), at: Self.at(100))
        #expect(actions.contains(.runnerEnded(Self.uuid)))
        #expect(machine.state == .idle)
        // Busy until the probe that saw it gone: the idle timeout counts from there.
        #expect(machine.shutdownIfIdle(at: Self.at(159)).isEmpty)
        #expect(Self.destroyReason(machine.shutdownIfIdle(at: Self.at(160))) == .idleTimeout)
    }

    @Test("A probe that began before a container started does not drop it")
    func probeRace() throws {
        var machine = Self.machine(.idle)
        let started = machine.probeStarting(at: Self.at(1))
        let ticket = try #require(started)
        _ = machine.startContainer(Self.uuid, at: Self.at(2))
        machine.runnerStarted(Self.uuid, at: Self.at(3))
        // The listing was taken before the container started, so it shows nothing.
        let actions = machine.probeFinished(ticket, booted: true, run: .listed(RunnerList()), at: Self.at(4))
        #expect(!actions.contains(.runnerEnded(Self.uuid)))
        #expect(machine.state == .running)
        #expect(machine.containers == [Self.uuid])
    }

    @Test("Only one probe runs at a time, and none once shut down")
    func oneProbeAtATime() throws {
        var machine = Self.machine(.idle)
        let started = machine.probeStarting(at: Self.at(1))
        let ticket = try #require(started)
        #expect(machine.probeStarting(at: Self.at(2)) == nil)
        _ = machine.probeFinished(ticket, booted: true, run: .listed(RunnerList()), at: Self.at(3))
        #expect(machine.probeStarting(at: Self.at(4)) != nil)
        var down = Self.machine(.idle)
        _ = down.kill(at: Self.at(1))
        #expect(down.probeStarting(at: Self.at(2)) == nil)
    }

    @Test("Containers found on a worker this process did not start are adopted")
    func adoption() throws {
        var machine = Machine(state: .unknown, idleBehavior: .run, appeared: Self.t0)
        let started = machine.probeStarting(at: Self.at(1))
        let ticket = try #require(started)
        let actions = machine.probeFinished(
            ticket,
            booted: true,
            run: .listed(RunnerList(running: [Self.uuid, Self.other])),
            at: Self.at(1)
        )
        #expect(actions.contains(.adoptRunner(Self.uuid)) && actions.contains(.adoptRunner(Self.other)))
        #expect(actions.contains(.reportBootOutcome(.success)))
        #expect(machine.state == .running)
        #expect(machine.lastUUID == Self.uuid)
    }

    @Test(
        "A broken report drains a worker whose behaviour is run, and counts a failed boot",
        arguments: [IdleBehavior.run, .hold, .drain]
    )
    func brokenReport(behavior: IdleBehavior) throws {
        var machine = Self.machine(.running, behavior, running: [Self.uuid])
        let started = machine.probeStarting(at: Self.at(1))
        let ticket = try #require(started)
        let actions = machine.probeFinished(
            ticket,
            booted: true,
            run: .listed(RunnerList(running: [Self.uuid], broken: true)),
            at: Self.at(1)
        )
        if behavior == .run {
            #expect(machine.idleBehavior == .drain)
            #expect(actions.contains(.saveTags) && actions.contains(.reportBootOutcome(.failure)))
        } else {
            #expect(machine.idleBehavior == behavior)
            #expect(!actions.contains(.saveTags))
        }
        #expect(machine.state == .running)
    }

    @Test("A stale lock reported for longer than TimeoutStaleRunLock counts as broken")
    func staleRunLock() throws {
        var machine = Self.machine(.idle)
        let stale = RunnerList(stale: [Self.uuid])
        for second in [1, 3, 6] {
            let started = machine.probeStarting(at: Self.at(second))
            let ticket = try #require(started)
            _ = machine.probeFinished(ticket, booted: true, run: .listed(stale), at: Self.at(second))
            #expect(machine.idleBehavior == .run, "at \(second)s the lock has been stale for \(second - 1)s")
        }
        let started = machine.probeStarting(at: Self.at(7))
        let ticket = try #require(started)
        let actions = machine.probeFinished(ticket, booted: true, run: .listed(stale), at: Self.at(7))
        #expect(machine.idleBehavior == .drain)
        // Draining and idle: it shuts down at once.
        #expect(Self.destroyReason(actions) == .drained)
    }

    @Test("A stale lock that clears resets the clock")
    func staleRunLockClears() throws {
        var machine = Self.machine(.idle)
        for (second, list) in [
            (1, RunnerList(stale: [Self.uuid])), (4, RunnerList()), (5, RunnerList(stale: [Self.uuid])),
            (9, RunnerList(stale: [Self.uuid])),
        ] {
            let started = machine.probeStarting(at: Self.at(second))
            let ticket = try #require(started)
            _ = machine.probeFinished(ticket, booted: true, run: .listed(list), at: Self.at(second))
        }
        #expect(machine.idleBehavior == .run)
    }

    @Test("A kill sends SIGTERM now and every TimeoutSignal, and a successful one ends the runner")
    func killSucceeds() {
        var machine = Self.machine(.running, running: [Self.uuid])
        let first = machine.killContainer(Self.uuid, reason: "cancelled", at: Self.at(0))
        #expect(first == [.sendTerm(Self.uuid), .scheduleKillTick(Self.uuid, after: .seconds(5))])
        // A second request while the first is in progress does nothing.
        #expect(machine.killContainer(Self.uuid, reason: "again", at: Self.at(1)).isEmpty)
        #expect(machine.termSent(Self.uuid, succeeded: false, at: Self.at(1)).isEmpty)
        #expect(
            machine.killTick(Self.uuid, at: Self.at(5)) == [
                .sendTerm(Self.uuid), .scheduleKillTick(Self.uuid, after: .seconds(5)),
            ]
        )
        let ended = machine.termSent(Self.uuid, succeeded: true, at: Self.at(6))
        #expect(ended == [.runnerEnded(Self.uuid), .notifyScheduler])
        #expect(machine.state == .idle)
        // The loop stops once the runner is gone.
        #expect(machine.killTick(Self.uuid, at: Self.at(10)).isEmpty)
    }

    @Test(
        "A runner that ignores SIGTERM for TimeoutTERM is given up and the worker drained, unless held",
        arguments: [IdleBehavior.run, .hold]
    )
    func killGivesUp(behavior: IdleBehavior) {
        var machine = Self.machine(.running, behavior, running: [Self.uuid])
        _ = machine.killContainer(Self.uuid, reason: "cancelled", at: Self.at(0))
        #expect(machine.killTick(Self.uuid, at: Self.at(120)).first == .sendTerm(Self.uuid))
        let actions = machine.killTick(Self.uuid, at: Self.at(121))
        #expect(machine.running[Self.uuid]?.givenUp == true)
        if behavior == .run {
            #expect(machine.idleBehavior == .drain)
            // Draining with only given-up runners left: destroy now.
            #expect(Self.destroyReason(actions) == .drained)
        } else {
            #expect(actions.isEmpty)
            #expect(machine.idleBehavior == .hold)
        }
        // No more signals after giving up: SIGKILL is never sent.
        #expect(machine.killTick(Self.uuid, at: Self.at(130)).isEmpty)
    }

    @Test("A Complete container's runner stops counting at once and a later probe ends it, with no SIGTERM")
    func finishedRunnerNeedsNoKill() throws {
        var machine = Self.machine(.running, running: [Self.uuid, Self.other])
        // A probe in flight from before the container completed says nothing about its runner.
        let earlyStarted = machine.probeStarting(at: Self.at(0))
        let early = try #require(earlyStarted)
        #expect(machine.runnerFinished(Self.uuid, at: Self.at(1)) == [.notifyScheduler])
        #expect(machine.runnerFinished(Self.uuid, at: Self.at(1)).isEmpty)
        #expect(machine.containers == [Self.other])
        #expect(machine.hasContainer(Self.uuid))
        #expect(machine.state == .running)
        let stale = machine.probeFinished(
            early,
            booted: true,
            run: .listed(RunnerList(running: [Self.other])),
            at: Self.at(1)
        )
        #expect(!stale.contains(.runnerEnded(Self.uuid)))
        #expect(machine.finishing[Self.uuid] != nil)
        // Still listed just after: it is exiting; neither adopted again nor signalled.
        let listedStarted = machine.probeStarting(at: Self.at(2))
        let listed = try #require(listedStarted)
        let still = machine.probeFinished(
            listed,
            booted: true,
            run: .listed(RunnerList(running: [Self.uuid, Self.other])),
            at: Self.at(2)
        )
        #expect(!still.contains(.adoptRunner(Self.uuid)) && !still.contains(.sendTerm(Self.uuid)))
        #expect(machine.running[Self.uuid] == nil)
        // Gone from a later listing: its lock is released, the runner ended.
        let laterStarted = machine.probeStarting(at: Self.at(3))
        let later = try #require(laterStarted)
        let ended = machine.probeFinished(
            later,
            booted: true,
            run: .listed(RunnerList(running: [Self.other])),
            at: Self.at(3)
        )
        #expect(ended.contains(.runnerEnded(Self.uuid)) && ended.contains(.notifyScheduler))
        #expect(!ended.contains(.sendTerm(Self.uuid)))
        #expect(!machine.hasContainer(Self.uuid))
    }

    @Test("The last runner finishing makes the worker idle and ready for the next container")
    func finishedRunnerFreesTheWorker() {
        var machine = Self.machine(.running, running: [Self.uuid])
        _ = machine.runnerFinished(Self.uuid, at: Self.at(1))
        #expect(machine.state == .idle)
        #expect(machine.containers.isEmpty)
        #expect(machine.startContainer(Self.other, at: Self.at(1)) == [.startRunner(Self.other), .notifyScheduler])
        // A runner whose container completes before its `--detach` returned finishes the same way.
        #expect(machine.runnerFinished(Self.other, at: Self.at(2)) == [.notifyScheduler])
        machine.runnerStarted(Self.other, at: Self.at(2))
        #expect(machine.running.isEmpty && machine.state == .idle)
    }

    @Test("A container whose runner is still finishing on the worker is not started there again")
    func noStartOverAFinishingRunner() {
        var machine = Self.machine(.running, running: [Self.uuid])
        _ = machine.runnerFinished(Self.uuid, at: Self.at(1))
        // Its runner would be both finishing and starting: the next probe listing it would leave it starting.
        #expect(machine.startContainer(Self.uuid, at: Self.at(2)) == nil)
        #expect(machine.finishing[Self.uuid] != nil && machine.containers.isEmpty)
    }

    @Test("A finishing runner still listed TimeoutSignal after its container completed gets SIGTERM as Arvados's")
    func lingeringFinishedRunnerIsKilled() throws {
        var machine = Self.machine(.running, running: [Self.uuid])
        _ = machine.runnerFinished(Self.uuid, at: Self.at(0))
        let list = Machine.RunProbeOutcome.listed(RunnerList(running: [Self.uuid]))
        let firstStarted = machine.probeStarting(at: Self.at(4))
        let first = try #require(firstStarted)
        #expect(!machine.probeFinished(first, booted: true, run: list, at: Self.at(4)).contains(.sendTerm(Self.uuid)))
        let secondStarted = machine.probeStarting(at: Self.at(5))
        let second = try #require(secondStarted)
        let actions = machine.probeFinished(second, booted: true, run: list, at: Self.at(5))
        #expect(actions.contains(.sendTerm(Self.uuid)))
        #expect(actions.contains(.scheduleKillTick(Self.uuid, after: .seconds(5))))
        #expect(
            machine.termSent(Self.uuid, succeeded: true, at: Self.at(6)) == [.runnerEnded(Self.uuid), .notifyScheduler]
        )
        #expect(!machine.hasContainer(Self.uuid))
    }

    @Test("A destroyed instance still listed is destroyed again after TimeoutShutdown")
    func destroyRetry() {
        var machine = Self.machine(.idle)
        _ = machine.kill(at: Self.at(0))
        #expect(machine.stillListed(at: Self.at(9)).isEmpty)
        #expect(machine.stillListed(at: Self.at(10)) == [.destroyInstance(reason: .destroyRetry)])
        #expect(machine.stillListed(at: Self.at(15)).isEmpty)
        #expect(machine.stillListed(at: Self.at(20)) == [.destroyInstance(reason: .destroyRetry)])
        var live = Self.machine(.idle)
        #expect(live.stillListed(at: Self.at(100)).isEmpty)
    }

    @Test("The boot outcome is reported once: the first outcome wins")
    func bootOutcomeOnce() throws {
        var machine = Machine(state: .booting, idleBehavior: .run, appeared: Self.t0)
        let started = machine.probeStarting(at: Self.at(1))
        let ticket = try #require(started)
        let ready = machine.probeFinished(ticket, booted: true, run: .listed(RunnerList()), at: Self.at(1))
        #expect(ready.contains(.reportBootOutcome(.success)))
        #expect(ready.contains(.observeTimeToReady(.seconds(1))))
        let killed = machine.kill(at: Self.at(2))
        #expect(!killed.contains(.reportBootOutcome(.aborted)))
        #expect(!machine.disappeared().contains(.reportBootOutcome(.disappeared)))
        var vanished = Machine(state: .unknown, idleBehavior: .run, appeared: Self.t0)
        #expect(vanished.disappeared().contains(.reportBootOutcome(.disappeared)))
    }

    @Test("Setting the idle behaviour saves the tags and applies at once")
    func setIdleBehavior() {
        var machine = Self.machine(.idle)
        #expect(machine.setIdleBehavior(.hold, at: Self.at(1)) == [.saveTags])
        #expect(!machine.acceptsContainers)
        let drained = machine.setIdleBehavior(.drain, at: Self.at(2))
        #expect(drained.first == .saveTags)
        #expect(Self.destroyReason(drained) == .drained)
    }
}
