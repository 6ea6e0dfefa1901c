import DispatchModel

extension SchedulingPlanner {
    /// Resolves disagreements between the queue and the pool (Arvados's `sync`, reference §3.5).
    ///
    /// | Queue says | Pool says | Action |
    /// |---|---|---|
    /// | Running | no runner, preempted 1…`PreemptionBudget` times, and no unknown worker without runners | requeue |
    /// | Running | no runner, and no unknown worker without runners (one not yet listed) | cancel |
    /// | Running | runner exited before the last queue update started | cancel |
    /// | Running | runner alive, priority 0 | kill |
    /// | Complete | runner alive | finished (once) |
    /// | Complete | runner exited, not yet forgotten | kill |
    /// | Cancelled | runner | kill |
    /// | Complete, Cancelled | no runner | forget |
    /// | Queued | runner | kill |
    /// | Queued | no runner, priority 0 | forget |
    /// | Locked | runner exited before the last queue update started | unlock |
    /// | Locked | runner alive, priority 0 | kill |
    /// | Locked | no runner, priority 0 | unlock |
    /// | (absent) | runner, not finishing | kill |
    ///
    /// "Before the last queue update started" means a queue poll that began after the runner's exit has
    /// completed, so a container that finalized itself has had the chance to show its final state.
    public static func reconcile(queue: QueueSnapshot, pool: PoolSnapshot, into actions: inout [Plan.Action]) {
        Self.reconcile(queue: queue, pool: pool, match: RunnerMatch(queue: queue, pool: pool), into: &actions)
    }

    static func reconcile(
        queue: QueueSnapshot,
        pool: PoolSnapshot,
        match: RunnerMatch,
        freeing: [ContainerUUID] = [],
        preemptionBudget: Int = 0,
        into actions: inout [Plan.Action]
    ) {
        // A worker whose run probe has not answered yet might be running anything. One whose run probe has
        // listed runners is known well enough (its containers are among the runners), so keeping it past
        // TimeoutBooting for them does not hold up this rule for the rest of the cluster; one with none is
        // destroyed at TimeoutBooting, which bounds the wait. (The runners the pass frees, `freeing`, are gone.)
        // Looked for only when a Running container has no runner (seldom): a walk of every instance each pass was a
        // tenth of the reconciliation.
        var unknownWorkers: Bool?
        func anyUnknownWorkers() -> Bool {
            if let unknownWorkers { return unknownWorkers }
            let found = pool.instances.indices.contains { index in
                pool.instances[index].state == .unknown && pool.instances[index].id != nil
                    && pool.instances[index].runningContainers.allSatisfy { freeing.contains($0) }
            }
            unknownWorkers = found
            return found
        }
        for i in queue.entries.indices {
            let runner = match.runner(of: i)
            let state = queue.entries[i].summary.state
            let priority = queue.entries[i].summary.priority
            // Most entries need nothing: Queued or Locked with a positive priority and no runner.
            if runner == nil && priority > 0 && (state == .queued || state == .locked) { continue }
            let uuid = queue.entries[i].uuid
            switch state {
            case .running:
                if let runner {
                    if runner.exited(before: queue.updatedAt) {
                        actions.append(.cancel(uuid, reason: "state=Running after crunch-run exited"))
                    } else if priority == 0 {
                        actions.append(.kill(uuid, reason: "priority=0"))
                    }
                } else if !anyUnknownWorkers() {
                    // A worker not yet probed might be running it: wait until every worker is known.
                    let preempted = pool.preemptions[uuid] ?? 0
                    if preempted > 0 && preempted <= preemptionBudget {
                        // Its instance vanished under it: run it again, while its preemption budget lasts.
                        actions.append(.requeue(uuid, preemptions: preempted))
                    } else {
                        actions.append(.cancel(uuid, reason: "not running on any worker"))
                    }
                }
            case .complete, .cancelled:
                if let runner, runner.exitedAt == nil, state == .complete {
                    // It finalized the container and is exiting: no `--kill` unless it lingers.
                    // (Nor a second `.finished`: the pass's own come first, for the runners it frees.)
                    if !runner.finishing && !freeing.contains(uuid) { actions.append(.finished(uuid)) }
                } else if runner != nil {
                    // Nothing the runner does now matters; killing it frees the worker.
                    actions.append(.kill(uuid, reason: "state=\(state.rawValue)"))
                } else {
                    actions.append(.forget(uuid))
                }
            case .queued:
                if runner != nil {
                    // A worker back from a network partition still preparing a requeued container.
                    actions.append(.kill(uuid, reason: "state=\(state.rawValue)"))
                } else if priority == 0 {
                    actions.append(.forget(uuid))
                }
            case .locked:
                if let runner {
                    if runner.exited(before: queue.updatedAt) {
                        actions.append(.unlock(uuid, reason: "crunch-run exited"))
                    } else if runner.exitedAt == nil && priority == 0 {
                        actions.append(.kill(uuid, reason: "priority=0"))
                    }
                } else if priority == 0 {
                    actions.append(.unlock(uuid, reason: "priority=0"))
                }
            }
        }
        // A finishing runner's container (Complete) may leave the queue before a probe sees the runner gone:
        // the pool already waits for it, and kills it itself if it lingers.
        for uuid in match.unmatched where pool.runners[uuid]?.finishing != true && !freeing.contains(uuid) {
            actions.append(.kill(uuid, reason: "not in queue"))
        }
    }

    /// The runners this pass frees the slots of, in UUID order: `finished`, those alive and not yet finishing whose
    /// containers the queue shows Complete (the pass sends each `.finished`, the reconciliation's "finished
    /// (once)"); `released`, those that have exited whose containers are final (the reconciliation kills and
    /// forgets each in the same pass). Placement counts both as gone, as the pool will once the pass is applied.
    static func freedRunners(
        queue: QueueSnapshot,
        pool: PoolSnapshot
    ) -> (finished: [ContainerUUID], released: [ContainerUUID]) {
        guard !pool.runners.isEmpty else { return ([], []) }
        var states: [ContainerUUID: ContainerState] = [:]
        // Final entries are few (the queue forgets them once the scheduler has): they are found first, in place
        // (`for entry in` would copy every entry, retaining its references: a tenth of the daemon's CPU at 100,000
        // containers), and each is looked up among the runners (a set of every runner, built at every pass, cost
        // more than the rest of this).
        for i in queue.entries.indices where queue.entries[i].summary.state.isFinal {
            let uuid = queue.entries[i].uuid
            if let runner = pool.runners[uuid], !runner.finishing { states[uuid] = queue.entries[i].summary.state }
        }
        var finished: [ContainerUUID] = []
        var released: [ContainerUUID] = []
        for (uuid, state) in states {
            if pool.runners[uuid]?.exitedAt != nil {
                released.append(uuid)
            } else if state == .complete {
                finished.append(uuid)
            }
        }
        return (finished.sorted(), released.sorted())
    }
}
