import DispatchModel
import Testing

@testable import WorkerPool

typealias Machine = WorkerStateMachine<ContinuousClock.Instant>

/// The probe-and-update trials of Arvados's `worker_test.go` (reference §8.3), one row each.
@Suite("Probe and update")
struct ProbeTrialTests {
    static let t0 = ContinuousClock.now
    static let bootTimeout = Duration.seconds(60)
    static let probeTimeout = Duration.seconds(1)
    static let runningUUID: ContainerUUID = "zzzzz-dz642-abcdefghijklmno"
    static let startingUUID: ContainerUUID = "zzzzz-dz642-bcdefghijklmnop"

    enum Response: Sendable, CustomStringConvertible {
        case fail
        case succeed
        case listContainer
        var description: String { "\(self)" }
    }

    struct Trial: Sendable, CustomTestStringConvertible {
        var comment: String
        var state: WorkerState
        var age: Duration = .zero
        var running = 0
        var starting = 0
        var boot = Response.succeed
        /// `nil`: no runner binary to deploy (deployment skipped).
        var deploy: Response? = nil
        var run = Response.succeed
        var expectState: WorkerState
        var expectRunning = 0
        var testDescription: String { self.comment }
    }

    static let trials: [Trial] = [
        Trial(comment: "Unknown, probes fail", state: .unknown, boot: .fail, run: .fail, expectState: .unknown),
        Trial(
            comment: "Unknown, boot probe fails, but one container is running",
            state: .unknown,
            boot: .fail,
            run: .listContainer,
            expectState: .unknown,
            expectRunning: 1
        ),
        Trial(
            comment: "Unknown, boot probe fails, previously running container has exited",
            state: .unknown,
            running: 1,
            boot: .fail,
            expectState: .unknown,
            expectRunning: 0
        ),
        Trial(
            comment: "Unknown, boot timeout exceeded, boot probe fails",
            state: .unknown,
            age: bootTimeout + .seconds(1),
            boot: .fail,
            run: .fail,
            expectState: .shutdown
        ),
        Trial(
            comment: "Unknown, boot timeout exceeded, boot probe succeeds but crunch-run fails",
            state: .unknown,
            age: bootTimeout * 2,
            run: .fail,
            expectState: .shutdown
        ),
        Trial(
            comment: "Unknown, boot timeout exceeded, boot probe fails but crunch-run succeeds",
            state: .unknown,
            age: bootTimeout * 2,
            boot: .fail,
            expectState: .shutdown
        ),
        Trial(
            comment: "Unknown, boot timeout exceeded, boot probe fails but container is running",
            state: .unknown,
            age: bootTimeout * 2,
            boot: .fail,
            run: .listContainer,
            expectState: .unknown,
            expectRunning: 1
        ),
        Trial(
            comment: "Booting, boot probe fails, run probe fails",
            state: .booting,
            boot: .fail,
            run: .fail,
            expectState: .booting
        ),
        Trial(
            comment: "Booting, boot probe fails, run probe succeeds (but isn't expected to be called)",
            state: .booting,
            boot: .fail,
            expectState: .booting
        ),
        Trial(
            comment: "Booting, boot probe succeeds, run probe fails",
            state: .booting,
            run: .fail,
            expectState: .booting
        ),
        Trial(comment: "Booting, boot probe succeeds, run probe succeeds", state: .booting, expectState: .idle),
        Trial(
            comment: "Booting, boot probe succeeds, run probe succeeds, container is running",
            state: .booting,
            run: .listContainer,
            expectState: .running,
            expectRunning: 1
        ),
        Trial(
            comment: "Booting, boot timeout exceeded",
            state: .booting,
            age: bootTimeout * 2,
            run: .fail,
            expectState: .shutdown
        ),
        Trial(
            comment: "Idle, probe timeout exceeded, one container running",
            state: .idle,
            age: probeTimeout * 2,
            run: .listContainer,
            expectState: .running,
            expectRunning: 1
        ),
        Trial(
            comment: "Idle, probe timeout exceeded, one container running, probe fails",
            state: .idle,
            age: probeTimeout * 2,
            running: 1,
            run: .fail,
            expectState: .shutdown,
            expectRunning: 1
        ),
        Trial(
            comment: "Idle, probe timeout exceeded, nothing running, probe fails",
            state: .idle,
            age: probeTimeout * 2,
            run: .fail,
            expectState: .shutdown
        ),
        Trial(
            comment: "Running, one container still running",
            state: .running,
            running: 1,
            run: .listContainer,
            expectState: .running,
            expectRunning: 1
        ),
        Trial(
            comment: "Running, container has exited",
            state: .running,
            running: 1,
            expectState: .idle,
            expectRunning: 0
        ),
        Trial(
            comment: "Running, probe timeout exceeded, nothing running, new container being started",
            state: .running,
            age: probeTimeout * 2,
            starting: 1,
            expectState: .running
        ),
        Trial(
            comment: "Booting, boot probe succeeds, deployRunner succeeds, run probe succeeds",
            state: .booting,
            deploy: .succeed,
            run: .listContainer,
            expectState: .running,
            expectRunning: 1
        ),
        Trial(
            comment: "Booting, boot probe succeeds, deployRunner fails",
            state: .booting,
            deploy: .fail,
            expectState: .booting
        ),
        Trial(
            comment: "Booting, boot probe succeeds, deployRunner skipped, run probe succeeds",
            state: .booting,
            deploy: nil,
            expectState: .idle
        ),
    ]

    /// A worker in `state` whose last probe, busy time and update were `age` ago.
    static func worker(_ trial: Trial) -> Machine {
        var timeouts = Machine.Timeouts()
        timeouts.booting = Self.bootTimeout
        timeouts.probe = Self.probeTimeout
        let then = Self.t0 - trial.age
        let runners = Machine.Runners(
            running: trial.running > 0 ? [Self.runningUUID] : [],
            starting: trial.starting > 0 ? [Self.startingUUID] : []
        )
        // Arvados's table sets a flat state and runner counts; here each state holds what it can: idle and
        // running are one booted phase whose runners decide which it is, and no runner is known while booting.
        let phase: Machine.Phase =
            switch trial.state {
            case .unknown: .unknown(runners)
            case .booting: .booting
            case .idle, .running: .ready(runners)
            case .shutdown: .shutdown(destroyedAt: then, runners: runners)
            }
        return Machine(phase, idleBehavior: .run, appeared: then, timeouts: timeouts)
    }

    /// Runs one probe the way the pool does: boot probe and deployment if not booted, then the run probe.
    static func probe(_ machine: inout Machine, _ trial: Trial) -> [Machine.Action] {
        guard let ticket = machine.probeStarting(at: Self.t0) else { return [] }
        var booted = !ticket.needsBootProbe
        if ticket.needsBootProbe {
            booted = trial.boot == .succeed && trial.deploy != .fail
        }
        var run = Machine.RunProbeOutcome.notRun
        if machine.shouldRunProbe(booted: booted) {
            switch trial.run {
            case .fail: run = .failed
            case .succeed: run = .listed(RunnerList())
            case .listContainer: run = .listed(RunnerList(running: [Self.runningUUID]))
            }
        }
        return machine.probeFinished(ticket, booted: booted, run: run, at: Self.t0)
    }

    @Test("A probe moves the worker as Arvados's trials expect", arguments: trials)
    func trial(_ trial: Trial) {
        var machine = Self.worker(trial)
        let actions = Self.probe(&machine, trial)
        #expect(machine.state == trial.expectState)
        #expect(machine.running.count == trial.expectRunning)
        #expect(!machine.probing)
        // A worker that reached shutdown was told to destroy its instance, exactly once.
        let destroys = actions.filter { if case .destroyInstance = $0 { true } else { false } }
        #expect(destroys.count == (trial.expectState == .shutdown ? 1 : 0))
    }
}
