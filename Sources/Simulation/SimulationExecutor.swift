import CSimulationSupport
import Foundation

/// Runs a simulation on one thread, in a repeatable order, as fast as the machine allows.
///
/// Every job of the simulation's tasks runs on this executor's thread, first come first served: the work the
/// simulation's thread gives the global executor (the task started by ``run(_:)``, its child tasks, the default
/// actors they call, an unstructured `Task {}`, a resumed continuation) joins this executor's queue instead, through
/// the Swift runtime's global-enqueue hook, which only this thread's jobs take. Whenever no job is ready, every task
/// is waiting, so the executor moves the ``VirtualClock`` to its next deadline and wakes the sleepers due then. The
/// same code with the same inputs therefore runs the same jobs in the same order, and simulated hours pass in the
/// time the work takes.
///
/// Jobs run as the global executor runs them, with no task executor: a task's call to an actor that is free, and
/// its return, continue at once on the thread rather than each becoming a job (under a task executor preference
/// every such hop is enqueued; at a busy simulated cluster that was four jobs in five, and a tenth of the time).
///
/// Determinism holds only for work that stays on this thread: a real-time sleep or a callback from another thread
/// (a socket, a database queue) resumes its task there, and the task goes on on the global executor at a moment
/// that depends on the machine. A task that prefers this executor (`Task(executorPreference:)`) comes back to it
/// wherever it is resumed; ``outsideJobCount`` counts such returns.
public final class SimulationExecutor: TaskExecutor, @unchecked Sendable {
    /// The simulation's clock.
    public let clock: VirtualClock

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var jobs: [UnownedJob] = []
    private var head = 0
    private var finished = false
    private var jobsRun: UInt64 = 0
    private var outsideJobs: UInt64 = 0
    private var thread: pthread_t?

    /// How long, in real time, the executor waits for a job from outside while nothing is ready and nobody
    /// sleeps before it stops the process with a message saying so: such a wait that lasts is a simulation
    /// waiting on something that never comes, and a message beats a hang. `nil` waits for ever.
    public let stallLimit: Duration?

    public init(clock: VirtualClock = VirtualClock(), stallLimit: Duration? = .seconds(300)) {
        self.clock = clock
        self.stallLimit = stallLimit
    }

    /// The number of jobs run so far.
    public var jobCount: UInt64 {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.jobsRun
    }

    /// The number of jobs that came from another thread than the simulation's: work that ran outside it and
    /// came back at a moment the machine chose. Zero in a run that is repeatable.
    public var outsideJobCount: UInt64 {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.outsideJobs
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        self.append(UnownedJob(job))
    }

    fileprivate func append(_ job: UnownedJob) {
        let current = pthread_self()
        self.condition.lock()
        if let thread = self.thread, pthread_equal(thread, current) == 0 { self.outsideJobs += 1 }
        self.jobs.append(job)
        self.condition.signal()
        self.condition.unlock()
    }

    /// Runs `body` on the simulation's thread and returns its result once it ends.
    ///
    /// Time stands still while any job is ready and jumps to the next deadline when none is. When nobody is
    /// ready or asleep yet `body` has not ended, the executor waits for a job from outside the simulation.
    public func run<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            let thread = Thread { [self] in
                self.condition.lock()
                self.thread = pthread_self()
                self.condition.unlock()
                // Jobs this thread gives the global executor join this one's queue.
                simulation_install_global_hook()
                simulation_thread_enter(Unmanaged.passUnretained(self).toOpaque(), redirectToSimulation)
                defer { simulation_thread_leave() }
                Task {
                    let result = await body()
                    self.finish()
                    continuation.resume(returning: result)
                }
                self.loop()
            }
            thread.name = "simulation"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    private func finish() {
        self.condition.lock()
        self.finished = true
        self.condition.signal()
        self.condition.unlock()
    }

    /// Waits, holding `condition`, for a job from outside or the end of the run, at most ``stallLimit``.
    private func waitForOutsideJob() {
        guard let limit = self.stallLimit else {
            self.condition.wait()
            return
        }
        let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
        if !self.condition.wait(until: Date(timeIntervalSinceNow: seconds)) && self.head == self.jobs.count
            && !self.finished && self.clock.sleeperCount == 0
        {
            fatalError(
                "SimulationExecutor stalled at \(self.clock.now): no job ready, nobody asleep on the virtual clock "
                    + "and nothing from outside for \(limit) of real time; a task waits on something that never comes"
            )
        }
    }

    private func loop() {
        while true {
            self.condition.lock()
            while self.head == self.jobs.count {
                if self.finished {
                    self.condition.unlock()
                    return
                }
                // Nothing is ready: move time on, or wait for a job from outside.
                self.condition.unlock()
                let advanced = self.clock.advanceToNextDeadline()
                self.condition.lock()
                if !advanced && self.head == self.jobs.count && !self.finished {
                    self.waitForOutsideJob()
                }
            }
            let job = self.jobs[self.head]
            self.head += 1
            if self.head > 4096 && self.head * 2 > self.jobs.count {
                self.jobs.removeFirst(self.head)
                self.head = 0
            }
            self.jobsRun += 1
            self.condition.unlock()
            simulation_run_job(unsafeBitCast(job, to: UnsafeMutableRawPointer.self))
        }
    }
}

/// The global-enqueue hook's way back: a job the simulation's thread gave the global executor joins the queue.
private func redirectToSimulation(_ context: UnsafeMutableRawPointer?, _ job: UnsafeMutableRawPointer?) {
    guard let context, let job else { return }
    let executor = Unmanaged<SimulationExecutor>.fromOpaque(context).takeUnretainedValue()
    executor.append(unsafeBitCast(job, to: UnownedJob.self))
}
