import CloudDriver
import DispatchModel
import Foundation

/// The pool as the scheduler reads it at every pass, kept up to date incrementally.
///
/// A pass used to rebuild every worker's view, the runner table and the finishing set from scratch: work
/// proportional to the whole pool, many times a second at scale, whether or not anything had changed. Now the
/// pool marks the workers it changes (``WorkerPool/withMachine(_:markingOnlyAVisibleChange:_:)`` and the sync),
/// the workers that came or went, and the creates when one starts or ends; a pass recomputes only those.
/// ``version`` moves whenever what a pass reads changes, so a reader can tell an unchanged pool in O(1).
struct SchedulingViews {
    /// Workers changed since the views were last brought up to date.
    var dirty: Set<InstanceID> = []
    /// Workers added or removed since then.
    var comeOrGone: Set<InstanceID> = []
    /// The creates in flight changed (one started or ended).
    var pendingStale = false
    /// Everything is rebuilt (at the start).
    var stale = true
    /// The runner table is rebuilt (a worker's runners changed, or the exited ones did).
    var runnersStale = true
    /// Every worker and pending create, in ``WorkerPool/instances()`` order: the ``pendingCount`` pending
    /// creates (by type), then the workers (by instance ID).
    var views: [InstanceView] = []
    /// ``views`` in the form a planning pass reads them, element for element.
    var passInstances: [InstanceSnapshot] = []
    /// How many of ``views`` are pending creates.
    var pendingCount = 0
    /// Each worker's runners last seen (starting and running, sorted; finishing, sorted).
    var workerRunners: [InstanceID: WorkerRunners] = [:]
    /// Every container with a runner on a worker or whose runner ended (when), and whether it is finishing (in
    /// ``finishing``).
    var runners: [ContainerUUID: RunnerStatus] = [:]
    /// The containers whose runner is finishing (Complete, exiting by itself).
    var finishing: Set<ContainerUUID> = []
    /// The worker each runner is on.
    var runnerWorkers: [ContainerUUID: InstanceID] = [:]
    /// Moves whenever ``passInstances`` or ``runners`` change (``views`` may change alone, in fields no pass
    /// reads: a worker's last-busy time and last container, its address).
    var version: UInt64 = 0
    /// Moves whenever the keys of ``runners`` or the containers of a ``passInstances`` element change, or workers
    /// come or go: what a pass matches queue entries against (``PoolSchedulingState/layoutVersion``). A worker's
    /// state, a create, or a runner's exit time or finishing flag leave it.
    var layoutVersion: UInt64 = 0
    /// ``WorkerPool/currentPrices()``, until an instance listing or a worker changes.
    var prices: [InstanceTypeName: Double]?
    /// Snapshots taken, for the debug builds' sampled check against a rebuild.
    var snapshots: UInt64 = 0

    struct WorkerRunners: Equatable {
        var active: [ContainerUUID]
        var finishing: [ContainerUUID]
    }

    /// Where worker `id`'s view is in ``views`` (after the pending creates, which are sorted by ID), or where it
    /// belongs when it has none: a binary search, so a worker coming or going moves the views after it in place
    /// instead of every worker's position being written again.
    func workerPosition(of id: InstanceID) -> (index: Int, found: Bool) {
        var low = self.pendingCount
        var high = self.views.count
        while low < high {
            let middle = (low + high) / 2
            let other = self.views[middle].instance?.rawValue ?? ""
            if other == id.rawValue { return (middle, true) }
            if other < id.rawValue { low = middle + 1 } else { high = middle }
        }
        return (low, false)
    }

    /// Marks worker `id` for recomputation.
    mutating func markDirty(_ id: InstanceID) {
        if !self.stale { self.dirty.insert(id) }
    }

    /// Marks worker `id` as added or removed.
    mutating func markComeOrGone(_ id: InstanceID) {
        self.prices = nil
        if !self.stale { self.comeOrGone.insert(id) }
    }

    /// Marks the pending creates' views for rebuilding (a create started or ended).
    mutating func markPendingStale() {
        self.pendingStale = true
    }

    /// Puts worker `id`'s runners in the runner table in place of those it had (`nil`: the worker is gone).
    ///
    /// A runner that ended keeps its exit time (`exited`) in the table. A runner named by two workers (not
    /// expected) marks the table for a rebuild, which settles it as a rebuild always did.
    mutating func replaceRunners(of id: InstanceID, with new: WorkerRunners?, exited: [ContainerUUID: Timestamp]) {
        let old = self.workerRunners[id]
        guard old != new else { return }
        self.workerRunners[id] = new
        self.layoutVersion &+= 1
        if let old {
            for uuid in old.active + old.finishing {
                guard self.runnerWorkers[uuid] == id else {
                    self.runnersStale = true
                    continue
                }
                self.runnerWorkers[uuid] = nil
                self.finishing.remove(uuid)
                self.runners[uuid] = exited[uuid].map { RunnerStatus(exitedAt: $0) }
            }
        }
        if let new {
            for uuid in new.active {
                if let other = self.runnerWorkers[uuid], other != id { self.runnersStale = true }
                self.runnerWorkers[uuid] = id
                self.runners[uuid] = RunnerStatus(exitedAt: exited[uuid], finishing: self.finishing.contains(uuid))
            }
            self.finishing.formUnion(new.finishing)
            for uuid in new.finishing {
                if let other = self.runnerWorkers[uuid], other != id { self.runnersStale = true }
                self.runnerWorkers[uuid] = id
                self.runners[uuid] = RunnerStatus(exitedAt: exited[uuid], finishing: true)
            }
        }
        self.version &+= 1
    }

    /// Records in the runner table that the runner of `uuid` ended at `exitedAt`, or (`nil`) that the pool forgot
    /// it ended.
    mutating func exitedChanged(_ uuid: ContainerUUID, to exitedAt: Timestamp?) {
        let finishing = self.finishing.contains(uuid)
        let listed = self.runners[uuid] != nil
        if let exitedAt {
            self.runners[uuid] = RunnerStatus(exitedAt: exitedAt, finishing: finishing)
        } else {
            self.runners[uuid] = self.runnerWorkers[uuid] != nil ? RunnerStatus(finishing: finishing) : nil
        }
        if listed != (self.runners[uuid] != nil) { self.layoutVersion &+= 1 }
        self.version &+= 1
    }
}

extension WorkerPool {
    /// One worker's view, as ``instances()`` shows it; `containers` is `worker.machine.containers` when the caller
    /// has it already (it is a sorted copy of the runner table).
    func view(of id: InstanceID, _ worker: Worker, containers: [ContainerUUID]? = nil) -> InstanceView {
        InstanceView(
            instance: id,
            address: worker.address,
            instanceType: worker.type,
            lastContainerUUID: worker.machine.lastUUID,
            lastBusy: worker.busyAt,
            runningContainerUUIDs: containers ?? worker.machine.containers,
            workerState: worker.machine.state,
            idleBehavior: worker.machine.idleBehavior,
            acceptsContainers: worker.machine.acceptsContainers,
            firstSeenAt: worker.appearedAt
        )
    }

    /// Brings ``schedulingViews`` up to date: the changed workers, those that came or went and the pending creates
    /// only, or everything at the start.
    func refreshSchedulingViews() {
        var cache = self.schedulingViews
        self.schedulingViews = SchedulingViews()  // edit a unique copy in place
        defer { self.schedulingViews = cache }
        if cache.stale {
            self.rebuildSchedulingViews(&cache)
            return
        }
        if !cache.comeOrGone.isEmpty {
            self.applyComeOrGone(&cache)
        }
        if cache.pendingStale {
            let pending = self.pendingViews()
            if pending.count != cache.pendingCount
                || !zip(pending, cache.views).allSatisfy({ Self.sameForScheduling($0, $1) })
            {
                cache.version &+= 1
            }
            cache.views.replaceSubrange(0..<cache.pendingCount, with: pending)
            cache.passInstances.replaceSubrange(0..<cache.pendingCount, with: pending.map(Self.passInstance))
            cache.pendingCount = pending.count
            cache.pendingStale = false
        }
        for id in cache.dirty {
            guard let worker = self.workers[id] else { continue }
            let (index, found) = cache.workerPosition(of: id)
            guard found else {
                // A worker with no view that did not come through the sync (not expected): rebuild.
                self.rebuildSchedulingViews(&cache)
                return
            }
            // The active runners once, for the view and the runner table both.
            let active = worker.machine.containers
            let view = self.view(of: id, worker, containers: active)
            if !Self.sameForScheduling(cache.views[index], view) {
                cache.views[index] = view
                // The version moves only when what a pass reads moves: a worker's last container, say, changes at
                // the first probe after each start, and no pass reads it.
                let pass = Self.passInstance(view)
                if !Self.samePass(cache.passInstances[index], pass) {
                    if cache.passInstances[index].runningContainers != pass.runningContainers {
                        cache.layoutVersion &+= 1
                    }
                    cache.passInstances[index] = pass
                    cache.version &+= 1
                }
            }
            cache.replaceRunners(
                of: id,
                with: Self.runners(of: worker.machine, active: active),
                exited: self.exited
            )
        }
        cache.dirty.removeAll(keepingCapacity: true)
        if cache.runnersStale { self.rebuildRunnerTable(&cache) }
    }

    /// Builds every view and the runner table from the workers.
    private func rebuildSchedulingViews(_ cache: inout SchedulingViews) {
        cache.views = self.instances()
        cache.passInstances = cache.views.map(Self.passInstance)
        cache.pendingCount = self.creating.count
        cache.workerRunners.removeAll(keepingCapacity: true)
        for (id, worker) in self.workers {
            cache.workerRunners[id] = Self.runners(of: worker.machine)
        }
        cache.dirty.removeAll(keepingCapacity: true)
        cache.comeOrGone.removeAll(keepingCapacity: true)
        cache.stale = false
        cache.pendingStale = false
        cache.version &+= 1
        cache.layoutVersion &+= 1
        self.rebuildRunnerTable(&cache)
    }

    /// Takes the views of the workers that went out and puts those of the workers that came in, in ID order.
    ///
    /// A worker coming or going used to rebuild every view (copying every worker and sorting them all); at a
    /// thousand busy workers that was a tenth of a simulated day. Now each view is put in or taken out in place (the
    /// others move along, uncopied), found by a binary search.
    private func applyComeOrGone(_ cache: inout SchedulingViews) {
        for id in cache.comeOrGone {
            cache.dirty.remove(id)
            let (index, found) = cache.workerPosition(of: id)
            if let worker = self.workers[id] {
                let active = worker.machine.containers
                let view = self.view(of: id, worker, containers: active)
                if found {
                    cache.views[index] = view
                    cache.passInstances[index] = Self.passInstance(view)
                } else {
                    cache.views.insert(view, at: index)
                    cache.passInstances.insert(Self.passInstance(view), at: index)
                }
                cache.replaceRunners(
                    of: id,
                    with: Self.runners(of: worker.machine, active: active),
                    exited: self.exited
                )
            } else {
                if found {
                    cache.views.remove(at: index)
                    cache.passInstances.remove(at: index)
                }
                cache.replaceRunners(of: id, with: nil, exited: self.exited)
            }
        }
        cache.comeOrGone.removeAll(keepingCapacity: true)
        cache.version &+= 1
        cache.layoutVersion &+= 1
    }

    /// The pending creates' views (by type).
    func pendingViews() -> [InstanceView] {
        self.creating.values.map { pending in
            InstanceView(
                instance: nil,
                address: "",
                instanceType: pending.type,
                lastContainerUUID: nil,
                lastBusy: pending.wallStartedAt,
                runningContainerUUIDs: [],
                workerState: .booting,
                idleBehavior: .run,
                acceptsContainers: false,
                firstSeenAt: pending.wallStartedAt
            )
        }.sorted { $0.instanceType.name < $1.instanceType.name }
    }

    /// Rebuilds the runner table from each worker's runners and the exited ones.
    private func rebuildRunnerTable(_ cache: inout SchedulingViews) {
        cache.runners.removeAll(keepingCapacity: true)
        cache.finishing.removeAll(keepingCapacity: true)
        cache.runnerWorkers.removeAll(keepingCapacity: true)
        for (id, runners) in cache.workerRunners {
            for uuid in runners.active {
                cache.runners[uuid] = RunnerStatus()
                cache.runnerWorkers[uuid] = id
            }
            for uuid in runners.finishing {
                cache.runners[uuid] = RunnerStatus(finishing: true)
                cache.runnerWorkers[uuid] = id
                cache.finishing.insert(uuid)
            }
        }
        for (uuid, exitedAt) in self.exited {
            cache.runners[uuid] = RunnerStatus(exitedAt: exitedAt, finishing: cache.finishing.contains(uuid))
        }
        cache.runnersStale = false
        cache.version &+= 1
        cache.layoutVersion &+= 1
    }

    /// A worker's runners, as the runner table shows them.
    static func runners(
        of machine: Machine,
        active: [ContainerUUID]? = nil
    ) -> SchedulingViews.WorkerRunners {
        SchedulingViews.WorkerRunners(
            active: active ?? machine.containers,
            finishing: machine.finishing.isEmpty ? [] : machine.finishing.keys.sorted()
        )
    }

    /// A view as a planning pass reads it.
    static func passInstance(_ view: InstanceView) -> InstanceSnapshot {
        InstanceSnapshot(
            id: view.instance,
            type: view.instanceType,
            state: view.workerState,
            idleBehavior: view.idleBehavior,
            runningContainers: view.runningContainerUUIDs
        )
    }

    /// Whether a pass reads the same in `a` as in `b`.
    static func samePass(_ a: InstanceSnapshot, _ b: InstanceSnapshot) -> Bool {
        a.state == b.state && a.idleBehavior == b.idleBehavior && a.runningContainers == b.runningContainers
            && a.type == b.type && a.id == b.id
    }

    /// Whether two views of one worker are the same but for their wall-clock times (the last-busy time, which
    /// every probe of a busy worker moves and no pass reads).
    static func sameForScheduling(_ a: InstanceView, _ b: InstanceView) -> Bool {
        a.workerState == b.workerState && a.idleBehavior == b.idleBehavior
            && a.acceptsContainers == b.acceptsContainers && a.lastContainerUUID == b.lastContainerUUID
            && a.runningContainerUUIDs == b.runningContainerUUIDs && a.address == b.address
            && a.instanceType == b.instanceType && a.instance == b.instance
    }

    /// The worker running `uuid`'s runner (starting, running or finishing), if any.
    ///
    /// The runner table as last refreshed answers when the worker it names still has the runner: the scheduler
    /// asks this for every container it kills or sees finished, and a refresh after a worker came or went rebuilds
    /// every view (at 10,000 workers coming and going, that took a third of the daemon's CPU). Otherwise the
    /// views are brought up to date first.
    func worker(running uuid: ContainerUUID) -> InstanceID? {
        if let id = self.schedulingViews.runnerWorkers[uuid], self.workers[id]?.machine.hasContainer(uuid) == true {
            return id
        }
        self.refreshSchedulingViews()
        return self.schedulingViews.runnerWorkers[uuid]
    }

    /// Whether this snapshot checks the views against a rebuild (debug builds): every snapshot of a pool of at
    /// most 32 workers, and every 16th of a larger one. The rebuild sorts every worker, so checking each pass of
    /// a pool of hundreds took a third of a long chaos run's time; sampled, such a run still checks thousands
    /// of passes.
    func shouldCheckSchedulingViews() -> Bool {
        self.schedulingViews.snapshots &+= 1
        return self.workers.count <= 32 || self.schedulingViews.snapshots % 16 == 0
    }

    /// Checks the incremental views against a rebuild from scratch (debug builds: every test that schedules
    /// checks the bookkeeping).
    func schedulingViewsMatchRebuild() -> Bool {
        let fresh = self.instances()
        let cached = self.schedulingViews.views
        guard fresh.count == cached.count, self.schedulingViews.passInstances.count == cached.count else {
            return false
        }
        for (view, pass) in zip(cached, self.schedulingViews.passInstances) {
            guard Self.samePass(pass, Self.passInstance(view)) else { return false }
        }
        for (a, b) in zip(fresh, cached) where a.instance != nil || b.instance != nil {
            guard Self.sameForScheduling(a, b) else { return false }
        }
        let finishing = Set(self.workers.values.flatMap { $0.machine.finishing.keys })
        let running = self.running().mapValues { RunnerStatus(exitedAt: $0) }
        return self.schedulingViews.runners.mapValues { RunnerStatus(exitedAt: $0.exitedAt) } == running
            && self.schedulingViews.finishing == finishing
            && self.schedulingViews.runners.allSatisfy { $0.value.finishing == finishing.contains($0.key) }
    }
}
