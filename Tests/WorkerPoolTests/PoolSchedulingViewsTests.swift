import CloudDriver
import DispatchModel
import DispatchTestSupport
import Testing

@testable import WorkerPool

/// The pool's scheduling state is kept up to date incrementally: its version moves when, and only when, what a
/// scheduling pass reads changes, so the scheduler can reuse its last plan at a quiet pool.
@Suite("Pool scheduling views")
struct PoolSchedulingViewsTests {
    static let type1 = Fixtures.instanceType(1)

    /// A pool with one worker, booted and idle.
    static func idleWorker() async -> PoolHarness {
        let harness = PoolHarness.start(configuration: PoolHarness.configuration(types: [Self.type1]))
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(1, in: .booting)
        harness.clock.advance(by: .seconds(1))
        harness.advanceProbeTick()
        await harness.eventually(1, in: .idle)
        return harness
    }

    /// Starts one probe round and waits until its probe has run and finished.
    static func probeOnce(_ harness: PoolHarness) async {
        let probesBefore = harness.commands.matching("--list").count
        harness.advanceProbeTick()
        let probed = await eventually(timeout: .seconds(60)) {
            harness.commands.matching("--list").count > probesBefore ? true : nil
        }
        #expect(probed == true, "another probe ran")
        let settled = await eventually(timeout: .seconds(60)) {
            await harness.pool.anyProbing() ? nil : true
        }
        #expect(settled == true, "the probe finished")
    }

    @Test("A probe that finds nothing new leaves the scheduling state's version alone; a change moves it")
    func versionMovesOnlyOnChange() async throws {
        let harness = await Self.idleWorker()

        let idle = await harness.pool.schedulingState()
        #expect(idle.instances.count == 1)
        #expect(idle.instances.first?.workerState == .idle)
        // Several probe rounds that find the worker still idle and empty (they notify nobody: polled).
        for _ in 0..<3 {
            await Self.probeOnce(harness)
            // Nothing a view shows changed: the worker's view is not even recomputed at the next pass.
            #expect(await harness.pool.schedulingViews.dirty.isEmpty, "a probe that changed nothing marked the worker")
        }
        let still = await harness.pool.schedulingState()
        #expect(still.version == idle.version, "probes that changed nothing moved the version")
        #expect(still.instances == idle.instances)

        // A container started on the worker changes what a pass reads.
        let id = try #require(idle.instances.first?.instance)
        let container = Container(uuid: "zzzzz-dz642-000000000000001", state: .locked, priority: 1)
        #expect(await harness.pool.startContainer(container, on: id))
        let busy = await harness.pool.schedulingState()
        #expect(busy.version != idle.version)
        #expect(busy.runners.keys.contains(container.uuid))
        #expect(busy.instances.first?.runningContainerUUIDs == [container.uuid])
        // The runner table finds the worker of a container without a scan.
        #expect(await harness.pool.worker(running: container.uuid) == id)
        await harness.stop()
    }

    @Test("Probes of a busy worker that list the same runners move its last-busy time but not the version")
    func busyProbesKeepVersion() async throws {
        let harness = await Self.idleWorker()
        let id = try #require(await harness.pool.schedulingState().instances.first?.instance)
        let container = Container(uuid: "zzzzz-dz642-000000000000001", state: .locked, priority: 1)
        #expect(await harness.pool.startContainer(container, on: id))
        harness.advanceProbeTick()
        await harness.eventually(1, in: .running)

        let running = await harness.pool.schedulingState()
        let busyBefore = try #require(running.instances.first?.lastBusy)
        for _ in 0..<3 {
            await Self.probeOnce(harness)
            // Nothing a view shows changed: the worker's view is not even recomputed at the next pass.
            #expect(await harness.pool.schedulingViews.dirty.isEmpty, "a probe that changed nothing marked the worker")
        }
        // Each probe listed the container and moved the worker's last-busy time, which no pass reads: the same
        // version, so the scheduler reuses its plan instead of planning afresh after every probe.
        let later = await harness.pool.schedulingState()
        #expect(later.version == running.version, "probes that only moved the last-busy time moved the version")
        #expect(later.instances.first?.runningContainerUUIDs == [container.uuid])
        let busyAfter = try #require(await harness.pool.instances().first?.lastBusy)
        #expect(busyAfter > busyBefore, "the worker's listing shows the newer last-busy time")
        #expect(await harness.pool.schedulingViewsMatchRebuild())
        await harness.stop()
    }

    @Test("A probe that changes only what no pass reads (the worker's last container) leaves the version alone")
    func lastContainerAloneKeepsVersion() async throws {
        let harness = await Self.idleWorker()
        let id = try #require(await harness.pool.schedulingState().instances.first?.instance)
        let container = Container(uuid: "zzzzz-dz642-000000000000001", state: .locked, priority: 1)
        #expect(await harness.pool.startContainer(container, on: id))
        let started = await harness.pool.schedulingState()
        #expect(started.instances.first?.lastContainerUUID != container.uuid)

        await Self.probeOnce(harness)
        let listed = await harness.pool.schedulingState()
        // The probe listed the runner: the worker's view now names it as its last container (the management API
        // shows that), and what a pass reads is as it was.
        #expect(listed.instances.first?.lastContainerUUID == container.uuid)
        let before = try #require(started.passInstances.first)
        let after = try #require(listed.passInstances.first)
        #expect(after.state == before.state && after.runningContainers == before.runningContainers)
        #expect(listed.version == started.version, "a change no pass reads moved the version")
        #expect(await harness.pool.schedulingViewsMatchRebuild())
        await harness.stop()
    }

    @Test("A create in flight and a vanished instance rebuild the views")
    func structuralChanges() async throws {
        let harness = PoolHarness.start(configuration: PoolHarness.configuration(types: [Self.type1]))
        let empty = await harness.pool.schedulingState()
        #expect(empty.instances.isEmpty)
        #expect(await harness.pool.create(Self.type1))
        let creating = await harness.pool.schedulingState()
        #expect(creating.version != empty.version)
        #expect(creating.instances.count == 1)
        await harness.eventually(1, in: .booting)
        let booting = await harness.pool.schedulingState()
        #expect(booting.instances.count == 1)
        #expect(booting.instances.first?.instance != nil)
        #expect(await harness.pool.schedulingViewsMatchRebuild())
        await harness.stop()
    }

    @Test(
        "Workers coming and going, creates starting and ending, and runners starting, ending and forgotten in random order keep the views, runner table and probe order equal to a rebuild"
    )
    func randomComeAndGo() async throws {
        let types = [Self.type1, Fixtures.instanceType(2), Fixtures.instanceType(4)]
        let harness = PoolHarness.start(configuration: PoolHarness.configuration(types: types))
        let start = UInt64.random(in: 0...UInt64.max)
        var random = FuzzRandom(seed: start)
        func next(_ bound: Int) -> Int { Int.random(in: 0..<bound, using: &random) }
        var comeAndGone = 0
        var containers = 0
        var runnersSeen = 0
        var exitedSeen = 0
        // At least 300 steps, and on until the walk has added and removed workers and started and ended runners (a
        // seed whose first 300 steps never ended a runner made this test fail at random), at most 3,000.
        for step in 0..<3000 {
            if step >= 300 && comeAndGone > 20 && runnersSeen > 0 && exitedSeen > 0 { break }
            let before = await harness.pool.instances().count
            switch next(7) {
            case 0:
                _ = await harness.pool.create(types[next(types.count)])
            case 1:
                let ids = await harness.pool.instances().compactMap { view in
                    view.workerState == .shutdown ? nil : view.instance
                }
                if !ids.isEmpty { try? await harness.pool.killInstance(ids[next(ids.count)], reason: "test") }
            case 2:
                harness.advanceSync()
            case 3:
                containers += 1
                _ = await harness.pool.startContainer(
                    Fixtures.container(containers),
                    type: types[next(types.count)].name
                )
            case 4:
                let alive = await harness.pool.running().filter { $0.value == nil }.keys.sorted()
                if !alive.isEmpty { _ = await harness.pool.killContainer(alive[next(alive.count)], reason: "test") }
            case 5:
                let ended = await harness.pool.running().filter { $0.value != nil }.keys.sorted()
                if !ended.isEmpty { await harness.pool.forgetContainer(ended[next(ended.count)]) }
            default:
                harness.advanceProbeTick()
            }
            for _ in 0..<next(8) { await Task.yield() }
            if await harness.pool.instances().count != before { comeAndGone += 1 }
            let running = await harness.pool.running()
            runnersSeen += running.values.count { $0 == nil }
            exitedSeen += running.values.count { $0 != nil }
            #expect(await harness.pool.refreshedViewsMatchRebuild(), "seed \(start)")
            #expect(await harness.pool.probeOrderIsEveryWorkerSorted(), "seed \(start)")
        }
        #expect(comeAndGone > 20, "the walk added and removed workers (seed \(start))")
        #expect(runnersSeen > 0 && exitedSeen > 0, "the walk started and ended runners (seed \(start))")
        await harness.stop()
    }
}

extension WorkerPool {
    /// Brings the views up to date and compares them with a rebuild, in one turn.
    fileprivate func refreshedViewsMatchRebuild() -> Bool {
        self.refreshSchedulingViews()
        return self.schedulingViewsMatchRebuild()
    }

    /// Whether a probe round would take every worker once, in ID order.
    fileprivate func probeOrderIsEveryWorkerSorted() -> Bool {
        self.probeOrder.map(\.id) == self.workers.keys.sorted()
            && self.probeOrder.allSatisfy { self.workers[$0.id] === $0.worker }
    }
}
