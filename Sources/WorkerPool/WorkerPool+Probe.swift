import CloudDriver
import CoreMetrics
import DispatchModel
import Foundation
import Logging
import RemoteExecution

extension WorkerPool {
    /// Every `ProbeInterval` plus up to 1/23 of it at random: shuts down idle workers and probes the others,
    /// paced so that one round over all of them takes at most one `ProbeInterval` (see
    /// ``Configuration-swift.struct/probeRate(workers:)``; after a burst of one second's worth).
    ///
    /// The first round comes one interval after the start (Arvados's comes at once, when the first cloud
    /// list has usually not arrived yet), so what a restarted pool adopts is first seen as `unknown`.
    func probeLoop() async {
        var deadline = self.clock.now
        let interval = self.configuration.probeInterval
        while !Task.isCancelled {
            deadline = deadline.advanced(by: interval)
            if deadline < self.clock.now { deadline = self.clock.now }
            let jitterRange = max(1, interval.nanoseconds / 23)
            let jitter = Duration.nanoseconds(Jitter.integer(below: jitterRange))
            do {
                try await self.clock.sleep(until: deadline.advanced(by: jitter), tolerance: nil)
            } catch {
                return
            }
            await self.probeTick()
        }
    }

    /// One round: the idle check, then a probe, for every worker not shutting down; records how long it took.
    func probeTick() async {
        let started = self.now
        let round = self.probeOrder
        let rate = self.configuration.probeRate(workers: round.count)
        defer { self.metrics.probeRound.record(started.duration(to: self.now).inSeconds) }
        for (id, worker) in round {
            let now = self.now
            // A worker that went during the round (while a probe start waited) is left out.
            guard !worker.removed else { continue }
            // Asked without changing the machine first: most workers have no reason to shut down, and a
            // worker left unchanged needs no new scheduling view.
            if Self.hasShutdownReason(&worker.machine, at: now) {
                let actions = self.withMachine(of: worker, id) { $0.shutdownIfIdle(at: now) }
                self.perform(actions, on: id)
                guard !worker.removed else { continue }
            }
            guard Self.isProbeDue(&worker.machine) else { continue }
            // The budget taken at once when it has room (nearly always: it is refilled a tenth of a second's worth
            // at a time); waited for otherwise.
            if Task.isCancelled { return }
            // The time read for this worker serves its budget and its probe's start, unless it waited (reading the
            // pool's generic clock was a hundredth of a simulated week).
            var startNow = now
            if !self.takeProbeBudget(rate: rate, at: now) {
                guard await self.waitForProbeBudget(rate: rate) else { return }
                startNow = self.now
            }
            // The wait may have outlived the worker.
            guard !worker.removed else { continue }
            await self.startProbe(worker, id, at: startNow)
        }
    }

    /// Whether a worker not shut down has a reason to shut down at `now`. The machine is passed in place: the pool
    /// is compiled generic over its instances, and there a method called on `worker.machine` copies the machine
    /// first, runner tables and all (every worker, every round).
    private static func hasShutdownReason(_ machine: inout Machine, at now: PoolInstant) -> Bool {
        machine.state != .shutdown && machine.shutdownReason(at: now) != nil
    }

    /// Whether a worker is due a probe: not shut down, none in flight (the machine in place, as above).
    private static func isProbeDue(_ machine: inout Machine) -> Bool {
        machine.state != .shutdown && !machine.probing
    }

    /// Refills the probe-rate budget at `rate` starts a second and takes one start from it, if it has one.
    private func takeProbeBudget(rate: Double, at now: PoolInstant? = nil) -> Bool {
        let now = now ?? self.now
        self.probeBudget = min(rate, self.probeBudget + self.probeBudgetAt.duration(to: now).inSeconds * rate)
        self.probeBudgetAt = now
        guard self.probeBudget >= 1 else { return false }
        self.probeBudget -= 1
        return true
    }

    /// Once ``takeProbeBudget(rate:)`` found the budget short, waits until it has a start and takes it; `false` when
    /// cancelled.
    ///
    /// A wait lasts at least 100 ms, so a fast round (hundreds or thousands of starts a second) takes its starts
    /// in batches of a tenth of a second's worth rather than one timer per probe (at 1,000 workers and a 10 s
    /// `ProbeInterval`, 10 starts a wait instead of one).
    private func waitForProbeBudget(rate: Double) async -> Bool {
        while true {
            do {
                try await self.clock.sleep(for: .seconds(max((1 - self.probeBudget) / rate, 0.1)))
            } catch {
                return false
            }
            if Task.isCancelled { return false }
            if self.takeProbeBudget(rate: rate) { return true }
        }
    }

    /// Starts a probe of worker `id` in the background, unless one is in flight; on an executor that answers in
    /// this process (the simulated cloud), probes a booted worker here instead, as a background task would but
    /// without one (at a busy simulated cluster, probes are most of the work).
    /// `worker` is `workers[id]`; `now` is the pool's time, read by the caller just before.
    func startProbe(_ worker: Worker, _ id: InstanceID, at now: PoolInstant) async {
        // Not through `withMachine`: starting a probe changes nothing a scheduling view shows, so the worker's view
        // need not be recomputed for it (a busy pool probes every worker every `ProbeInterval`).
        guard let ticket = worker.machine.probeStarting(at: now) else { return }
        let runner: RunnerBinary
        do {
            runner = try self.loadRunnerBinary()
        } catch {
            self.logger.error("Runner binary unreadable: cannot probe", metadata: ["error": "\(error)"])
            _ = self.withMachine(of: worker, id) { $0.probeFinished(ticket, booted: false, run: .notRun, at: now) }
            return
        }
        let commands = worker.commands(runner: runner.command)
        let prices = Instance.reportsPriceHistory ? worker.instance.priceHistory(for: worker.type) : []
        let listCommand = self.listCommand(commands, withPrices: !prices.isEmpty)
        if worker.executor.answersInProcess && !ticket.needsBootProbe {
            // Booted, answered in memory: the run probe alone, here, with nothing gathered for a background task
            // (and without `ProbeContext.runProbe`, whose isolation parameter made every probe look up the pool's
            // generic type and its `Actor` conformance).
            let input = ProbeContext.runProbeInput(command: listCommand, commands: commands, prices: prices)
            let answer: Result<CommandResult, any Error>
            do {
                answer = .success(
                    try await worker.executor.execute(environment: [:], command: input.command, stdin: input.stdin)
                )
            } catch {
                answer = .failure(error)
            }
            let (run, connected) = ProbeContext.runProbeOutcome(
                answer,
                id: id,
                clusterID: self.configuration.clusterID,
                lastOutput: worker.lastListing?.output,
                elapsedNanoseconds: now.duration(to: self.now).nanoseconds,
                logger: self.logger,
                metrics: self.metrics
            )
            guard !worker.removed else { return }
            self.probeFinished(worker, id, ticket, .init(booted: true, run: run, connected: connected))
            return
        }
        let context = ProbeContext(
            id: id,
            executor: worker.executor,
            commands: commands,
            listCommand: listCommand,
            runner: runner,
            bootProbeCommand: self.configuration.bootProbeCommand.isEmpty
                ? "true" : self.configuration.bootProbeCommand,
            prices: prices,
            clusterID: self.configuration.clusterID,
            needsBootProbe: ticket.needsBootProbe,
            wasUnknown: ticket.initialState == .unknown,
            lastOutput: worker.lastListing?.output
        )
        let clock = self.clock
        let logger = self.logger
        let metrics = self.metrics
        self.spawn {
            let result = await context.probe(clock: clock, logger: logger, metrics: metrics)
            await self.probeFinished(id, ticket, result)
        }
    }

    /// The run-probe command line of `commands`, made once for every probe that sends the same.
    private func listCommand(_ commands: RemoteCommands, withPrices: Bool) -> String {
        if let last = self.lastListCommand, last.withPrices == withPrices, last.commands == commands {
            return last.line
        }
        let line = commands.list(withPrices: withPrices)
        self.lastListCommand = (commands, withPrices, line)
        return line
    }

    private func probeFinished(_ id: InstanceID, _ ticket: Machine.ProbeTicket, _ result: ProbeContext.Outcome) {
        guard let worker = self.workers[id] else { return }
        self.probeFinished(worker, id, ticket, result)
    }

    /// Applies a probe's outcome to `worker`, which is `workers[id]`.
    private func probeFinished(
        _ worker: Worker,
        _ id: InstanceID,
        _ ticket: Machine.ProbeTicket,
        _ result: ProbeContext.Outcome
    ) {
        let now = self.now
        if result.connected && !worker.connected {
            worker.connected = true
            if worker.machine.state == .booting {
                self.metrics.timeToSSH.recordNanoseconds(worker.machine.appeared.duration(to: now).nanoseconds)
            }
        }
        let before = Self.state(of: &worker.machine)
        var result = result
        if case .listed(let list, let output) = result.run {
            // A new listing (the same bytes come back as `.unchanged`) is kept for the probes that answer the same
            // (most): its UUIDs as the runners hold them.
            let shared = worker.machine.runners.sharingUUIDs(list)
            worker.lastListing = (output, shared)
            result.run = .listed(shared, output: output)
        }
        let actions = self.withMachine(of: worker, id, markingOnlyAVisibleChange: true) { machine in
            let run: Machine.RunProbeOutcome
            switch result.run {
            case .notRun: run = .notRun
            case .failed: run = .failed
            case .listed(let list, _): run = .listed(list)
            // The worker's listing is the one the probe compared with (one probe at a time), read only if the
            // machine needs it (the list not copied, its arrays' counts not touched, at most probes).
            case .unchanged:
                guard worker.hasLastListing else {
                    run = .failed
                    break
                }
                return machine.probeFinished(
                    ticket,
                    booted: result.booted,
                    repeating: { worker.lastListing?.list ?? RunnerList() },
                    at: now
                )
            }
            return machine.probeFinished(ticket, booted: result.booted, run: run, at: now)
        }
        self.recordProbe(id, before: before, booted: result.booted, actions: actions)
        self.perform(actions, on: id)
    }
}

/// Everything one probe needs, so it runs off the pool's actor.
struct ProbeContext: Sendable {
    var id: InstanceID
    var executor: any RemoteExecutor
    var commands: RemoteCommands
    /// `commands.list(withPrices: !prices.isEmpty)`, made by the pool once for all its probes.
    var listCommand: String
    var runner: RunnerBinary
    var bootProbeCommand: String
    var prices: [InstancePrice]
    var clusterID: ClusterID
    var needsBootProbe: Bool
    var wasUnknown: Bool
    /// The worker's last run-probe output: a probe that gets the same answers ``Outcome/Run-swift.enum/unchanged``
    /// (the pool keeps what it read from it).
    var lastOutput: [UInt8]?

    /// What one probe found.
    struct Outcome: Sendable {
        enum Run: Sendable {
            case notRun
            case failed
            /// The report, and the output it was read from.
            case listed(RunnerList, output: [UInt8])
            /// Listed, with the same output as the worker's last listing (``WorkerPool/Worker/lastListing``).
            case unchanged
        }

        var booted: Bool
        var run: Run
        /// A command reached the instance (it answered, whatever the exit status).
        var connected: Bool
    }

    /// The boot probe and runner deployment (not booted yet), then the run probe (`--list`).
    func probe<C: Clock>(
        clock: C,
        logger: Logger,
        metrics: PoolMetrics,
        isolation: isolated (any Actor)? = #isolation
    ) async -> Outcome where C.Duration == Duration {
        var booted = !self.needsBootProbe
        var connected = false
        if self.needsBootProbe {
            do {
                let result = try await self.executor.execute(
                    environment: [:],
                    command: self.bootProbeCommand,
                    stdin: []
                )
                connected = true
                booted = result.succeeded
                if !booted {
                    logger.debug(
                        "Boot probe failed",
                        metadata: ["instance.id": "\(self.id)", "command.stderr": "\(result.stderrText)"]
                    )
                }
            } catch {
                logger.debug("Boot probe failed", metadata: ["instance.id": "\(self.id)", "error": "\(error)"])
            }
            if booted || self.wasUnknown {
                let deployed = await self.deployRunner(logger: logger)
                if !deployed { booted = false }
            }
        }
        guard booted || self.wasUnknown else {
            return .init(booted: booted, run: .notRun, connected: connected)
        }
        let (run, ran) = await Self.runProbe(
            id: self.id,
            executor: self.executor,
            command: self.listCommand,
            commands: self.commands,
            prices: self.prices,
            clusterID: self.clusterID,
            lastOutput: self.lastOutput,
            clock: clock,
            logger: logger,
            metrics: metrics
        )
        return .init(booted: booted, run: run, connected: connected || ran)
    }

    /// The run probe (`--list`, with the price history on stdin when there is one): what it found, and whether
    /// the command reached the instance. `command` is `commands.list(withPrices: !prices.isEmpty)`.
    static func runProbe<C: Clock>(
        id: InstanceID,
        executor: any RemoteExecutor,
        command: String,
        commands: RemoteCommands,
        prices: [InstancePrice],
        clusterID: ClusterID,
        lastOutput: [UInt8]?,
        clock: C,
        logger: Logger,
        metrics: PoolMetrics,
        isolation: isolated (any Actor)? = #isolation
    ) async -> (run: Outcome.Run, connected: Bool) where C.Duration == Duration {
        let started = clock.now
        let input = Self.runProbeInput(command: command, commands: commands, prices: prices)
        let answer: Result<CommandResult, any Error>
        do {
            answer = .success(try await executor.execute(environment: [:], command: input.command, stdin: input.stdin))
        } catch {
            answer = .failure(error)
        }
        return Self.runProbeOutcome(
            answer,
            id: id,
            clusterID: clusterID,
            lastOutput: lastOutput,
            elapsedNanoseconds: started.duration(to: clock.now).nanoseconds,
            logger: logger,
            metrics: metrics
        )
    }

    /// The run probe's command line and standard input: `command` (`commands.list(withPrices: !prices.isEmpty)`),
    /// with the price history as JSON when there is one.
    static func runProbeInput(
        command: String,
        commands: RemoteCommands,
        prices: [InstancePrice]
    ) -> (command: String, stdin: [UInt8]) {
        var stdin: [UInt8] = []
        if !prices.isEmpty, let json = try? JSONEncoder().encode(prices) { stdin = [UInt8](json) }
        return (stdin.isEmpty == prices.isEmpty ? command : commands.list(withPrices: !stdin.isEmpty), stdin)
    }

    /// What a run probe's answer means (``runProbe(id:executor:command:commands:prices:clusterID:lastOutput:clock:logger:metrics:isolation:)``
    /// split in two, so the pool runs a probe answered in this process between them without another async frame):
    /// what it found, and whether the command reached the instance; records its duration.
    static func runProbeOutcome(
        _ answer: Result<CommandResult, any Error>,
        id: InstanceID,
        clusterID: ClusterID,
        lastOutput: [UInt8]?,
        elapsedNanoseconds: Int64,
        logger: Logger,
        metrics: PoolMetrics
    ) -> (run: Outcome.Run, connected: Bool) {
        var connected = false
        var run = Outcome.Run.failed
        switch answer {
        case .success(let result):
            connected = true
            if result.succeeded {
                // A busy worker's listing rarely changes between probes: the same bytes are not read again (the
                // pool reuses what it read from them), nor copied here.
                if let lastOutput, lastOutput == result.stdout {
                    run = .unchanged
                } else {
                    let list = RunnerList(parsing: result.stdoutText, clusterID: clusterID)
                    run = .listed(list, output: result.stdout)
                }
            } else {
                logger.debug(
                    "Run probe failed",
                    metadata: ["instance.id": "\(id)", "command.stderr": "\(result.stderrText)"]
                )
            }
        case .failure(let error):
            logger.debug("Run probe failed", metadata: ["instance.id": "\(id)", "error": "\(error)"])
        }
        switch run {
        case .listed, .unchanged: metrics.runProbeSuccess.recordNanoseconds(elapsedNanoseconds)
        case .notRun, .failed: metrics.runProbeFailure.recordNanoseconds(elapsedNanoseconds)
        }
        return (run, connected)
    }

    /// Puts the runner binary in place unless `md5sum` shows it already is; `true` when it is in place.
    private func deployRunner(logger: Logger) async -> Bool {
        guard let data = self.runner.data else { return true }
        let check = try? await self.executor.execute(environment: [:], command: self.commands.md5sum, stdin: [])
        if let check, check.succeeded, check.stderr.isEmpty,
            check.stdoutText == self.commands.expectedMD5Output(md5Hex: self.runner.md5Hex)
        {
            return true
        }
        do {
            let result = try await self.executor.execute(environment: [:], command: self.commands.deploy, stdin: data)
            guard result.succeeded else {
                logger.warning(
                    "Runner deploy failed",
                    metadata: ["instance.id": "\(self.id)", "command.stderr": "\(result.stderrText)"]
                )
                return false
            }
            logger.info(
                "Runner deployed",
                metadata: ["instance.id": "\(self.id)", "runner.command": "\(self.commands.runner)"]
            )
            return true
        } catch {
            logger.debug("Runner deploy failed", metadata: ["instance.id": "\(self.id)", "error": "\(error)"])
            return false
        }
    }
}
