public import DispatchModel

extension SchedulingLoop {
    /// Records what a pass decided: its locks, unlocks, cancels, starts, creates (with the containers they are
    /// for and why that type) and kills, then every container whose reason to wait changed.
    func record(_ plan: Plan, queue: QueueSnapshot, pool: PoolSnapshot, now: Timestamp) {
        var instanceTypes: [InstanceID: InstanceTypeName] = [:]
        var creates: [InstanceTypeName: [InstanceType]] = [:]
        for action in plan.actions {
            switch action {
            case .lock(let uuid):
                guard self.journalCallsStarted.contains(uuid) else { continue }
                self.journal.record(JournalEvent(time: now, kind: .lock, container: uuid, reason: "locked to run"))
            case .unlock(let uuid, let reason):
                guard self.journalCallsStarted.contains(uuid) else { continue }
                self.journal.record(JournalEvent(time: now, kind: .unlock, container: uuid, reason: reason))
            case .requeue(let uuid, let preemptions):
                guard self.journalCallsStarted.contains(uuid) else { continue }
                self.journal.record(
                    JournalEvent(
                        time: now,
                        kind: .unlock,
                        container: uuid,
                        reason: "preempted \(preemptions)×: requeued"
                    )
                )
            case .cancel(let uuid, let reason):
                guard self.journalCallsStarted.contains(uuid) else { continue }
                self.journal.record(JournalEvent(time: now, kind: .cancel, container: uuid, reason: reason))
            case .kill(let uuid, let reason):
                guard self.journalledKills[uuid] != reason else { continue }
                self.journalledKills[uuid] = reason
                self.journal.record(JournalEvent(time: now, kind: .kill, container: uuid, reason: reason))
            case .start(let uuid, let id):
                if instanceTypes.isEmpty {
                    for instance in pool.instances {
                        if let id = instance.id { instanceTypes[id] = instance.type.name }
                    }
                }
                self.journal.record(
                    JournalEvent(
                        time: now,
                        kind: .start,
                        container: uuid,
                        instance: id,
                        instanceType: instanceTypes[id],
                        reason: "started on a ready instance"
                    )
                )
            case .create(let type):
                creates[type.name, default: []].append(type)
            case .shutdown, .forget, .finished:
                // The pool records shutdowns with their reason; forgetting and a finished runner's release are
                // bookkeeping.
                break
            }
        }
        // The backlog's creates after the pass's own, as the planner gave them to the queue's containers.
        var backlogged: [InstanceTypeName: Int] = [:]
        for type in plan.createBacklog {
            creates[type.name, default: []].append(type)
            backlogged[type.name, default: 0] += 1
        }
        // Only changes are looked at closely: `journalledWaits` compares each waiting container with the last pass's
        // in order, and says which wait is new.
        self.journalledWaits.beginPass(plan.queue.entries)
        for position in plan.queue.indices {
            let kind = plan.queue.kind(at: position)
            guard kind.isJournalledWait else { continue }
            guard self.journalledWaits.note(plan.queue.entryIndex(at: position), kind.journalledAs),
                let status = plan.queue[position].status
            else { continue }
            let uuid = plan.queue.uuid(at: position)
            if case .waitingForNewInstance(let name) = status, creates[name]?.isEmpty == false {
                let type = creates[name]!.removeFirst()
                var event = Self.createEvent(type, for: plan.queue.entry(at: position), pool: pool, now: now)
                if creates[name]!.count < backlogged[name, default: 0] {
                    // Started by the pool once a create in flight returns.
                    event.reason += "; in the create backlog (MaxConcurrentInstanceCreateOps in flight)"
                }
                self.journal.record(event)
            }
            self.journal.record(
                JournalEvent(time: now, kind: .wait, container: uuid, reason: status.description)
            )
        }
        self.journalledWaits.endPass()
        self.journalCallsStarted.removeAll(keepingCapacity: true)
        if self.journalledKills.count >= self.journalledKillsPruneAt {
            // Those of containers gone from the queue, dropped once the table has doubled (every completed
            // container's exited runner is killed: pruned at every pass, it was a walk of the queue per pass).
            let present = queue.present(Set(self.journalledKills.keys))
            self.journalledKills = self.journalledKills.filter { present.contains($0.key) }
            self.journalledKillsPruneAt = max(64, 2 * self.journalledKills.count)
        }
    }

    /// A create, for the container it is for: the type, its figures, and why not a cheaper eligible type.
    static func createEvent(
        _ type: InstanceType,
        for entry: QueueEntry,
        pool: PoolSnapshot,
        now: Timestamp
    )
        -> JournalEvent
    {
        var skipped: [String] = []
        for cheaper in entry.instanceTypes {
            if cheaper.name == type.name { break }
            let why = pool.isAtCapacity(cheaper) ? "at capacity" : "not chosen"
            skipped.append("\(cheaper.name) (\(why))")
        }
        let reason =
            skipped.isEmpty
            ? "cheapest eligible type" : "cheaper eligible types passed over: " + skipped.joined(separator: ", ")
        return JournalEvent(
            time: now,
            kind: .create,
            container: entry.uuid,
            instanceType: type.name,
            reason: reason,
            figures: [
                .init("price", "\(type.price)"), .init("vcpus", "\(type.vcpus)"), .init("ram", "\(type.ram)"),
                .init("needs_vcpus", "\(entry.resources.vcpus)"), .init("needs_ram", "\(entry.resources.ram)"),
                .init("preemptible", "\(type.preemptible)"),
            ]
        )
    }
}

extension ScheduledQueue.Code.Kind {
    /// The statuses the journal records a change into: the reasons to wait.
    var isJournalledWait: Bool {
        switch self {
        case .supervisorLimit, .previousAttempt, .newInstance, .instanceTypes, .cloudLimits, .maxInstances,
            .clusterCapacity, .hourlySpendCap, .dailySpendCap:
            true
        case .none, .preparing, .priorityZero:
            false
        }
    }
}

extension ScheduledQueue.Code.Kind {
    /// The wait the journal tells this one apart from: a queue position behind `MaxInstances` and one behind the
    /// cluster's capacity are one wait. Which of the two applies follows the instance count, which crosses
    /// `MaxInstances` at every create and shutdown near it; recorded anew at each crossing, every waiting container
    /// was journalled again (3 million events in 4 minutes at 100,000 queued, 100 instances). A wait on the
    /// cloud's own limits (quota) stays apart: it has another cause and another remedy.
    var journalledAs: Self {
        switch self {
        case .maxInstances, .clusterCapacity: .clusterCapacity
        default: self
        }
    }
}

extension SchedulingLoop {
    /// The last pass's view of one container: its status (`nil`: not in the last pass) and the dynamic container
    /// limit, with the pool as it is now (read for the asking: a snapshot kept from every pass would make the
    /// pool copy its instance table at its next change).
    public func planningView(
        of uuid: ContainerUUID
    ) async -> (status: SchedulingStatus?, pool: PoolSnapshot, maxContainers: Int) {
        let queue = self.scheduledQueue()
        var status: SchedulingStatus?
        for position in queue.indices where queue.entry(at: position).uuid == uuid {
            status = queue[position].status
            break
        }
        let pool = await self.pool.schedulingSnapshot()
        return (status, pool, self.planner.state.maxContainers)
    }
}
