import Foundation
import Simulation
import Synchronization
import Testing

@Suite("Simulation executor and virtual clock")
struct SimulationExecutorTests {
    actor Log {
        var lines: [String] = []
        func append(_ line: String) { self.lines.append(line) }
    }

    /// Tasks sleeping on the virtual clock, talking to an actor: a run of many simulated hours.
    static func scenario(_ executor: SimulationExecutor) async -> [String] {
        let clock = executor.clock
        return await executor.run {
            let log = Log()
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<20 {
                    group.addTask {
                        for step in 0..<50 {
                            try? await clock.sleep(until: clock.now.advanced(by: .seconds(37 * (worker + 1) + step)))
                            await log.append("\(clock.now.offset) w\(worker) s\(step)")
                        }
                    }
                }
            }
            return await log.lines
        }
    }

    @Test("Simulated hours pass at once, sleepers wake in deadline order, and two runs are identical")
    func deterministic() async throws {
        let first = await Self.scenario(SimulationExecutor())
        let second = await Self.scenario(SimulationExecutor())
        #expect(first.count == 1000)
        #expect(first == second)
        #expect(first.first?.hasPrefix("37.0 seconds w0 s0") == true, "\(first.first ?? "")")
        #expect(first.last?.contains("w19") == true)
        // The last of the slowest worker: 50 sleeps of 740 s + step.
        #expect(first.last?.hasPrefix("\(Duration.seconds(50 * 740 + 49 * 50 / 2))") == true, "\(first.last ?? "")")
    }

    @Test("A cancelled sleep ends with CancellationError and does not hold the clock")
    func cancellation() async throws {
        let executor = SimulationExecutor()
        let clock = executor.clock
        let outcome = await executor.run { () async -> String in
            let sleeper = Task(executorPreference: executor) {
                do {
                    try await clock.sleep(until: clock.now.advanced(by: .seconds(3600)))
                    return "woke"
                } catch {
                    return "cancelled at \(clock.now.offset)"
                }
            }
            try? await clock.sleep(until: clock.now.advanced(by: .seconds(5)))
            sleeper.cancel()
            return await sleeper.value
        }
        #expect(outcome == "cancelled at 5.0 seconds")
    }

    /// An unstructured `Task {}` does not inherit the executor preference: without the global-enqueue hook it
    /// would run on the global executor while the simulation's thread, seeing nothing ready, moved the clock
    /// on (or waited forever for it). With the hook its jobs join the simulation's queue, in order.
    @Test("Unstructured tasks started inside a simulation run on its thread, in order, with the clock held")
    func unstructuredTasksStayInside() async throws {
        let executor = SimulationExecutor()
        let clock = executor.clock
        let (order, woke) = await executor.run { () async -> ([Int], [VirtualClock.Instant]) in
            let log = Log()
            var tasks: [Task<VirtualClock.Instant, Never>] = []
            for index in 0..<50 {
                tasks.append(
                    Task {
                        await log.append("\(index)")
                        try? await clock.sleep(until: clock.now.advanced(by: .seconds(5)))
                        return clock.now
                    }
                )
            }
            var woke: [VirtualClock.Instant] = []
            for task in tasks { woke.append(await task.value) }
            return (await log.lines.compactMap { Int($0) }, woke)
        }
        #expect(order == Array(0..<50))
        #expect(woke.allSatisfy { $0.offset == .seconds(5) }, "\(woke)")
        #expect(executor.outsideJobCount == 0)
    }

    @Test("A task that prefers the executor, resumed from another thread, comes back to it and is counted")
    func outsideJobsAreCounted() async throws {
        let executor = SimulationExecutor()
        await executor.run {
            // Resumed from a thread of its own, as a callback from outside the simulation is: deterministic,
            // where a real-time sleep's wake-up comes from whichever thread the global executor's timer uses.
            await Task(executorPreference: executor) {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    Thread { continuation.resume() }.start()
                }
            }.value
        }
        #expect(executor.outsideJobCount == 1)
    }

    actor Counter {
        var value = 0
        func increment() -> Int {
            self.value += 1
            return self.value
        }
    }

    /// Under a task executor preference every hop to an actor and back is a job of its own (two per call here).
    @Test("A task's calls to a free actor and its returns run at once on the thread, not as jobs")
    func hopsRunInline() async throws {
        let executor = SimulationExecutor()
        let counter = Counter()
        let total = await executor.run {
            var total = 0
            for _ in 0..<1000 { total = await counter.increment() }
            return total
        }
        #expect(total == 1000)
        #expect(executor.jobCount < 10, "\(executor.jobCount) jobs for 1,000 actor calls")
    }

    @Test("A simulation waiting on something that never comes stops the process with a message, not a hang")
    func stallStops() async {
        await #expect(processExitsWith: .failure) {
            let executor = SimulationExecutor(stallLimit: .milliseconds(200))
            await executor.run {
                // Nobody ever resumes this: no job, no sleeper, nothing from outside.
                await withCheckedContinuation { (_: CheckedContinuation<Void, Never>) in }
            }
        }
    }

    @Test("A reader on another thread sees the clock's time move only forward, and only to times it was at")
    func nowReadAcrossThreads() async throws {
        let clock = VirtualClock()
        // Deadlines with attoseconds that no count of nanoseconds holds, and whole seconds that need both words.
        let deadlines = (1...20_000).map { n in
            VirtualClock.Instant(
                offset: .seconds(n * 7919) + Duration(secondsComponent: 0, attosecondsComponent: Int64(n))
            )
        }
        let published = Set(deadlines.map(\.offset)).union([.zero])
        let done = Atomic<Bool>(false)
        let reader = Thread {
            var last = Duration.zero
            var reads = 0
            var problems: [String] = []
            while !done.load(ordering: .acquiring) || reads == 0 {
                let now = clock.now.offset
                reads += 1
                if now < last { problems.append("\(now) after \(last)") }
                if !published.contains(now) { problems.append("\(now) was never the time") }
                last = now
                if problems.count > 3 { break }
            }
            readerProblems.withLock { $0 = problems }
        }
        reader.start()
        for deadline in deadlines {
            Task { try? await clock.sleep(until: deadline) }
        }
        // Every sleeper registered, then the clock moves through each deadline in turn.
        #expect(await waitUntil { clock.sleeperCount == deadlines.count })
        var advanced = 0
        while clock.advanceToNextDeadline() { advanced += 1 }
        #expect(advanced == deadlines.count)
        #expect(clock.now == deadlines.last)
        done.store(true, ordering: .releasing)
        #expect(await waitUntil { readerProblems.withLock { $0 } != nil })
        #expect(readerProblems.withLock { $0 } == [])
    }
}

/// What the reader thread of ``SimulationExecutorTests/nowReadAcrossThreads()`` found wrong (`nil` until it ends).
private let readerProblems = Mutex<[String]?>(nil)

/// Polls `condition` until it holds (at most 30 s of real time); whether it did.
private func waitUntil(_ condition: @Sendable () -> Bool) async -> Bool {
    for _ in 0..<30_000 {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}
