import CloudDriver
public import DispatchModel

/// The pool as one scheduling pass needs it, read in one actor turn so the parts agree.
public struct PoolSchedulingState: Sendable {
    /// Every worker and pending create (``WorkerPool/instances()``), each as of the last change a pass can see:
    /// a view's `lastBusy` is not brought up to date by a probe that changed nothing else (``WorkerPool/instances()``
    /// has the current one).
    public var instances: [InstanceView]
    /// ``instances`` in the form a planning pass reads them, element for element (kept with them: not converted
    /// at every snapshot).
    public var passInstances: [InstanceSnapshot] = []
    /// Containers with a runner or whose runner ended (when) (``WorkerPool/running()``), each finishing when it is
    /// in ``finishing``.
    public var runners: [ContainerUUID: RunnerStatus]
    /// The runners among them whose container is Complete, waiting to exit by themselves
    /// (``WorkerPool/containerFinished(_:)``).
    public var finishing: Set<ContainerUUID>
    /// Whether creates are held by quota or `MaxInstances`.
    public var atQuota: Bool
    /// Whether a provider quota error holds creates (without `MaxInstances`).
    public var quotaHeld: Bool
    /// How many quota errors creates have met so far.
    public var quotaErrors: Int
    /// `MaxInstances`.
    public var maxInstances: Int
    /// How many more creates the pool accepts now; `nil` for no limit.
    public var createBudget: Int?
    /// The configured types whose creates a capacity error holds.
    public var typesAtCapacity: Set<InstanceTypeName>
    /// The newest known hourly price of each type whose instances report a price history (spot); types
    /// not listed cost their configured `Price`.
    public var currentPrices: [InstanceTypeName: Double] = [:]
    /// Moves whenever ``passInstances``, ``runners`` or ``finishing`` change: two states with the same version
    /// from one pool hold the same three (a reader may keep what it derived from them). ``instances`` may differ
    /// between them in what no pass reads (a worker's last container, last-busy time, address).
    public var version: UInt64 = 0
    /// Moves whenever the keys of ``runners`` or the containers of a ``passInstances`` element change (or workers
    /// come or go): two states with the same layout version from one pool name the same containers in the same
    /// places, runner table order included, though workers' states and runners' exit times and flags may differ.
    public var layoutVersion: UInt64 = 0
}

extension WorkerPool {
    /// The workers, runners and holds, for the scheduler.
    public func schedulingState() -> PoolSchedulingState {
        let now = self.now
        var budget: Int?
        if self.stopped || self.holds.createThrottled(at: now) {
            budget = 0
        } else if self.configuration.maxConcurrentInstanceCreateOps > 0 {
            budget = max(0, self.configuration.maxConcurrentInstanceCreateOps - self.creating.count)
        }
        self.refreshSchedulingViews()
        assert(
            !self.shouldCheckSchedulingViews() || self.schedulingViewsMatchRebuild(),
            "the pool's incremental scheduling views went wrong"
        )
        let views = self.schedulingViews
        return PoolSchedulingState(
            instances: views.views,
            passInstances: views.passInstances,
            runners: views.runners,
            finishing: views.finishing,
            atQuota: self.atQuota(),
            quotaHeld: self.holds.quotaHeld(at: now),
            quotaErrors: self.holds.quotaErrors,
            maxInstances: self.configuration.maxInstances,
            createBudget: budget,
            typesAtCapacity: Set(self.configuration.instanceTypes.values.filter { self.atCapacity($0) }.map(\.name)),
            currentPrices: self.cachedCurrentPrices(),
            version: views.version,
            layoutVersion: views.layoutVersion
        )
    }

    /// How many times each container has lost its instance under it (with what ``restorePreemptions(_:)`` added).
    public func preemptionCounts() -> [ContainerUUID: Int] { self.preemptions }

    /// Adds counts kept from an earlier process (the data directory's record) to this process's.
    public func restorePreemptions(_ counts: [ContainerUUID: Int]) {
        for (uuid, count) in counts where count > 0 {
            let (sum, overflow) = self.preemptions[uuid, default: 0].addingReportingOverflow(count)
            self.preemptions[uuid] = overflow ? Int.max : sum
        }
    }

    /// The summed hourly price of the instances that exist (any state; not creates in flight), spot types at
    /// their newest known price: what the cloud is billing for now.
    public func billedHourlySpend() -> Double {
        let prices = self.currentPrices()
        return self.workers.values.reduce(0) { $0 + (prices[$1.type.name] ?? $1.type.price) }
    }

    /// ``currentPrices()``, computed again only after an instance listing or a change of workers.
    func cachedCurrentPrices() -> [InstanceTypeName: Double] {
        if let prices = self.schedulingViews.prices { return prices }
        let prices = self.currentPrices()
        self.schedulingViews.prices = prices
        return prices
    }

    /// The newest price any instance of each type reports (spot price history, newest first); a type none
    /// of whose instances reports one is absent.
    public func currentPrices() -> [InstanceTypeName: Double] {
        guard Instance.reportsPriceHistory else { return [:] }
        var prices: [InstanceTypeName: (since: Timestamp, price: Double)] = [:]
        for worker in self.workers.values {
            guard let newest = worker.instance.priceHistory(for: worker.type).first,
                newest.price.isFinite, newest.price >= 0
            else { continue }
            if let known = prices[worker.type.name], known.since >= newest.startTime { continue }
            prices[worker.type.name] = (newest.startTime, newest.price)
        }
        return prices.mapValues(\.price)
    }

    /// Returns once the first cloud list has been applied.
    public func waitUntilLoaded() async {
        if !self.loaded {
            await withCheckedContinuation { self.loadedWaiters.append($0) }
        }
    }

    /// Shuts down worker `id` if it is booting or idle and not held (the scheduler no longer needs it);
    /// `false` otherwise.
    public func shutdown(_ id: InstanceID) -> Bool {
        guard let actions = self.withMachine(id, { $0.shutdownIfUnneeded(at: self.now) }) ?? nil else {
            return false
        }
        self.perform(actions, on: id)
        return true
    }
}
