import CloudDriver
import CoreMetrics
import DispatchModel
import Logging
import RemoteExecution

extension WorkerPool {
    /// Lists the cloud now and every `SyncInterval`, as a ticker: a list that ends after the next tick was
    /// due is followed by another at once (one missed tick, however many intervals passed).
    func syncLoop() async {
        var deadline = self.clock.now
        while !Task.isCancelled {
            await self.syncOnce()
            deadline = deadline.advanced(by: self.configuration.syncInterval)
            if deadline < self.clock.now { deadline = self.clock.now }
            do {
                try await self.clock.sleep(until: deadline, tolerance: nil)
            } catch {
                return
            }
        }
    }

    /// Lists this pool's instances and applies the list, unless listing is rate-limited.
    func syncOnce() async {
        let startedAt = self.now
        guard !self.holds.listThrottled(at: startedAt) else { return }
        let filter = [self.configuration.tagKey(.instanceSetID): self.configuration.instanceSetID.rawValue]
        do {
            let listed = try await self.instanceSet.instances(tagged: filter)
            self.sync(listed, startedAt: startedAt)
        } catch {
            self.logger.warning("Cloud list failed", metadata: ["error": "\(error)"])
            if let expiry = self.holds.listFailed(error, at: self.now) { self.notify(at: expiry) }
        }
    }

    /// Applies a cloud list fetched from `startedAt` on: new instances become workers, listed shut-down
    /// ones are destroyed again after `TimeoutShutdown`, and workers missing from it are removed.
    func sync(_ listed: [Instance], startedAt: PoolInstant) {
        let now = self.now
        // Each listed worker is marked with this list's number; the others are missing from it.
        self.listings &+= 1
        let listing = self.listings
        var changed = false
        for instance in listed {
            let id = instance.id
            let worker = self.addOrUpdate(instance, type: nil)
            worker.listed = listing
            let actions = self.withMachine(of: worker, id, markingOnlyAVisibleChange: true) { $0.stillListed(at: now) }
            if !actions.isEmpty { changed = true }
            self.perform(actions, on: id)
        }
        for (id, worker) in self.workers where worker.listed != listing && !(startedAt < worker.machine.updated) {
            self.remove(id, worker)
            changed = true
        }
        if self.holds.instancesCounted(self.workers.count + self.creating.count) { changed = true }
        if !self.loaded {
            self.loaded = true
            changed = true
            let waiters = self.loadedWaiters
            self.loadedWaiters = []
            for waiter in waiters { waiter.resume() }
        }
        if changed { self.notify() }
    }

    /// Adds a worker for an instance seen for the first time, or refreshes a known worker's listing.
    ///
    /// A new instance is `booting` if its secret belongs to a create in flight, else `unknown`; its idle
    /// behaviour and type come from its tags, and an instance whose type is no longer configured is drained
    /// (unless held).
    @discardableResult
    func addOrUpdate(_ instance: Instance, type createdType: InstanceType?) -> Worker {
        let id = instance.id
        if let worker = self.workers[id] {
            let moved = worker.address != instance.address
            worker.relist(instance)
            // Kept unless the remote user changed (read from the listed instance: the worker's copy would be copied
            // whole to read it, at every list for every worker).
            if let commands = worker.remoteCommands, commands.remoteUser != instance.remoteUser {
                worker.remoteCommands = nil
            }
            if worker.requestedTags == worker.tags { worker.requestedTags = nil }
            if moved { self.schedulingViews.markDirty(id) }
            self.schedulingViews.prices = nil
            if moved { worker.listing.update(instance) }
            self.saveTags(worker, id)
            return worker
        }
        let configuration = self.configuration
        let tags = instance.tags
        let secret = tags[configuration.tagKey(.instanceSecret)] ?? ""
        var behavior = tags[configuration.tagKey(.idleBehavior)].flatMap(IdleBehavior.init(rawValue:)) ?? .run
        let typeName = tags[configuration.tagKey(.instanceType)].map(InstanceTypeName.init(rawValue:))
        var type = createdType ?? typeName.flatMap { configuration.instanceTypes[$0] }
        if type == nil {
            type = InstanceType(
                name: typeName ?? InstanceTypeName(rawValue: instance.providerType),
                providerType: instance.providerType,
                vcpus: 0,
                ram: .zero,
                price: 0
            )
            if behavior != .hold { behavior = .drain }
            self.logger.warning(
                "Instance type not configured: draining the instance",
                metadata: ["instance.id": "\(id)", "instance.type": "\(typeName?.rawValue ?? "")"]
            )
        }
        let state: WorkerState = self.creating[secret] != nil && !secret.isEmpty ? .booting : .unknown
        let machine = Machine(
            state: state,
            idleBehavior: behavior,
            appeared: self.now,
            timeouts: configuration.timeouts
        )
        self.schedulingViews.markComeOrGone(id)
        let appearedAt = self.wallClock()
        let listing = InstanceListing(instance)
        let worker = Worker(
            machine: machine,
            appearedAt: appearedAt,
            instance: instance,
            type: type!,
            listing: listing,
            executor: self.makeExecutor(listing)
        )
        self.workers[id] = worker
        self.probeOrder.insert((id, worker), at: self.probeOrder.partitioningIndex { $0.id >= id })
        self.logger.info(
            "Instance appeared",
            metadata: [
                "instance.id": "\(id)", "instance.type": "\(type!.name)", "instance.address": "\(instance.address)",
                "worker.state": "\(state.rawValue)", "worker.idleBehavior": "\(behavior.rawValue)",
            ]
        )
        self.recordAppeared(id, type: type!, state: state, behavior: behavior)
        self.saveTags(worker, id)
        self.notify()
        return worker
    }

    /// Counts a preemption against each container whose runner was alive on an instance that vanished without
    /// the dispatcher asking (no destroy requested, the runner not being killed): a spot interruption, or any
    /// other loss of the instance.
    private func countPreemptions(_ worker: Worker, machine: Machine, id: InstanceID) {
        guard machine.destroyed == nil else { return }
        let lost = machine.runners.byUUID.compactMap { $0.value.isActive && $0.value.kill == nil ? $0.key : nil }
            .sorted()
        guard !lost.isEmpty else { return }
        for uuid in lost { self.preemptions[uuid, default: 0] += 1 }
        self.metrics.recordPreemptions(lost.count, type: worker.type.name)
        self.logger.warning(
            "Instance vanished with containers running: counted as a preemption",
            metadata: [
                "instance.id": "\(id)", "instance.type": "\(worker.type.name)",
                "containers": "\(lost.map(\.rawValue).joined(separator: ","))",
            ]
        )
    }

    /// Forgets a worker whose instance is gone from the cloud; its runners are abandoned.
    private func remove(_ id: InstanceID, _ worker: Worker) {
        var machine = worker.machine
        let actions = machine.disappeared()
        let now = self.now
        self.logger.info(
            "Instance disappeared",
            metadata: ["instance.id": "\(id)", "worker.state": "\(machine.state.rawValue)"]
        )
        self.metrics.disappeared[machine.state]?.increment()
        if let destroyed = machine.destroyed {
            self.metrics.timeFromShutdownToGone.recordNanoseconds(destroyed.duration(to: now).nanoseconds)
        }
        self.recordVanished(id, worker, machine: machine)
        self.countPreemptions(worker, machine: worker.machine, id: id)
        self.workers[id] = nil
        worker.removed = true
        self.schedulingViews.markComeOrGone(id)
        let position = self.probeOrder.partitioningIndex { $0.id >= id }
        if position < self.probeOrder.count && self.probeOrder[position].id == id {
            self.probeOrder.remove(at: position)
        }
        for uuid in machine.containers { self.startingContainers[uuid] = nil }
        self.perform(actions.filter { $0 != .notifyScheduler }, on: id)
        let executor = worker.executor
        self.spawn { await executor.close() }
    }
}
