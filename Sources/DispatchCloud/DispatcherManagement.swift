import CloudDriver
import ContainerQueue
import DecisionJournal
import DispatchModel
import ManagementAPI
import Scheduler
import WorkerPool

/// The running dispatcher as the management API sees it: the pool's instances, the scheduler's queue with
/// each entry's status, and the operator's hold, drain, run and kill requests.
struct DispatcherManagement<Instances: InstanceSet>: DispatcherControl {
    let pool: WorkerPool<Instances, ContinuousClock>
    let queue: ContainerQueue<ContinuousClock>
    let scheduler: SchedulingLoop<ContinuousClock>
    let journal: DecisionJournal
    let journalStore: JournalStore
    /// The cost records, for the dashboard's spend card.
    var costRecorder: CostRecorder? = nil

    func costs() async -> CostSummary? {
        guard let recorder = self.costRecorder else { return nil }
        let now = Int64(Timestamp.now().secondsSince1970)
        let report = await recorder.ledger.report(since: now - 13 * 86400, by: .day)
        return CostSummary(
            days: report.rows.map { CostSummary.Day(day: $0.key, cost: $0.cost, overhead: $0.overhead) },
            total: report.total,
            overhead: report.overhead,
            overheadShare: report.overheadShare
        )
    }

    func instances() async -> [ManagedInstance] {
        await self.pool.instances().map { view in
            ManagedInstance(
                instance: view.instance,
                address: view.address,
                price: view.price,
                arvadosInstanceType: view.instanceType.name,
                providerInstanceType: view.instanceType.providerType,
                lastContainerUUID: view.lastContainerUUID,
                lastBusy: view.lastBusy,
                runningContainerUUIDs: view.runningContainerUUIDs.sorted(),
                workerState: view.workerState,
                idleBehavior: view.idleBehavior,
                firstSeenAt: view.firstSeenAt
            )
        }
    }

    func queue() async -> [ManagedContainer] {
        let entries = await self.queue.entries().entries
        let scheduled = await self.scheduler.scheduledQueue()
        let quarantined = Dictionary(
            (await self.pool.quarantines()).map { ($0.instanceType, $0.until) },
            uniquingKeysWith: max
        )
        let preemptions = await self.pool.preemptionCounts()
        let fallbacks = await self.scheduler.spotFallbacks()
        var listed = Set<ContainerUUID>()
        var result: [ManagedContainer] = []
        for schedule in scheduled {
            guard let entry = entries[schedule.uuid] else { continue }
            listed.insert(schedule.uuid)
            var status = schedule.status.map { "\($0)" } ?? ""
            if !quarantined.isEmpty, schedule.status != nil, schedule.status != .preparingRuntimeEnvironment {
                status += Self.quarantineNote(entry, quarantined)
            }
            if let fallback = fallbacks[schedule.uuid], !status.isEmpty {
                // When and why it runs on on-demand instead of spot.
                status += "  Fell back from spot: \(fallback)."
            }
            result.append(Self.managed(entry, status: status, preemptions: preemptions[schedule.uuid] ?? 0))
        }
        // Entries that arrived after the last pass, in no particular order.
        for (uuid, entry) in entries where !listed.contains(uuid) {
            result.append(Self.managed(entry, status: "", preemptions: preemptions[uuid] ?? 0))
        }
        return result
    }

    func container(_ uuid: ContainerUUID) async -> ManagedContainer? {
        guard let entry = await self.queue.entry(uuid) else { return nil }
        let schedule = await self.scheduler.planningView(of: uuid).status
        var status = schedule.map { "\($0)" } ?? ""
        if schedule != nil, schedule != .preparingRuntimeEnvironment {
            let quarantined = Dictionary(
                (await self.pool.quarantines()).map { ($0.instanceType, $0.until) },
                uniquingKeysWith: max
            )
            if !quarantined.isEmpty { status += Self.quarantineNote(entry, quarantined) }
        }
        return Self.managed(entry, status: status, preemptions: await self.pool.preemptionCounts()[uuid] ?? 0)
    }

    /// The scheduling status's addition for a container with eligible types in quarantine.
    private static func quarantineNote(_ entry: QueueEntry, _ quarantined: [InstanceTypeName: Timestamp]) -> String {
        let names = entry.instanceTypes.map(\.name).filter { quarantined[$0] != nil }
        guard !names.isEmpty else { return "" }
        return "  Instance type" + (names.count == 1 ? " " : "s ") + names.map(\.rawValue).joined(separator: ", ")
            + (names.count == 1 ? " is" : " are") + " quarantined after failed boots."
    }

    func explain(_ subject: Explanation.Subject) async throws(ManagementError) -> Explanation {
        // What is recorded but not yet written is in the ring; the store has the rest.
        let journalSubject: JournalSubject
        switch subject {
        case .container(let uuid): journalSubject = .container(uuid)
        case .instance(let id): journalSubject = .instance(id)
        }
        var events: [JournalEvent]
        do throws(JournalError) {
            events = try self.journalStore.events(about: journalSubject)
        } catch {
            throw ManagementError(.internalError, error.description)
        }
        let stored = Set(events.map(\.sequence))
        events += self.journal.recent(about: journalSubject).filter { !stored.contains($0.sequence) }
        events.sort { $0.sequence < $1.sequence }
        switch subject {
        case .instance(let id):
            let known = await self.pool.instances().contains { $0.instance == id }
            guard known || !events.isEmpty else { throw ManagementError(.notFound, "instance \(id) not found") }
            return Explanation(subject: subject, events: events)
        case .container(let uuid):
            guard let entry = await self.queue.entry(uuid) else {
                guard !events.isEmpty else { throw ManagementError(.notFound, "container \(uuid) not found") }
                return Explanation(subject: subject, events: events)
            }
            let view = await self.scheduler.planningView(of: uuid)
            let quarantines = await self.pool.quarantines()
            let context = WhatIf.Context(
                menu: Array(self.pool.configuration.instanceTypes.values),
                pool: view.pool,
                capacityHeldUntil: await self.pool.capacityHeldUntil(),
                quarantinedUntil: Dictionary(quarantines.map { ($0.instanceType, $0.until) }, uniquingKeysWith: max),
                maxContainers: view.maxContainers
            )
            let whatIf = WhatIf.evaluate(entry: entry, status: view.status, context: context)
            return Explanation(
                subject: subject,
                events: events,
                schedulingStatus: view.status.map { "\($0)" },
                waitingBecause: whatIf?.reason,
                wouldStartIf: whatIf?.change
            )
        }
    }

    func quarantined() async -> [QuarantineEntry] {
        await self.pool.quarantines().map {
            QuarantineEntry(
                instanceType: $0.instanceType,
                imageID: $0.imageID.rawValue,
                until: $0.until,
                failures: self.pool.configuration.bootQuarantine.failures,
                level: $0.level
            )
        }
    }

    func liftQuarantine(_ type: InstanceTypeName) async throws(ManagementError) {
        do throws(WorkerPoolError) {
            try await self.pool.liftQuarantine(type)
        } catch {
            throw ManagementError(.notFound, error.message)
        }
    }

    private static func managed(_ entry: QueueEntry, status: String, preemptions: Int) -> ManagedContainer {
        ManagedContainer(
            container: entry.container,
            instanceResources: entry.resources,
            instanceTypes: entry.instanceTypes,
            firstSeenAt: entry.firstSeenAt,
            schedulingStatus: status,
            preemptions: preemptions
        )
    }

    func setIdleBehavior(_ id: InstanceID, _ behavior: IdleBehavior) async throws(ManagementError) {
        do throws(WorkerPoolError) {
            try await self.pool.setIdleBehavior(id, behavior)
        } catch {
            throw Self.managementError(error)
        }
    }

    func killInstance(_ id: InstanceID, reason: String) async throws(ManagementError) {
        do throws(WorkerPoolError) {
            try await self.pool.killInstance(id, reason: reason)
        } catch {
            throw Self.managementError(error)
        }
    }

    func killContainer(_ uuid: ContainerUUID, reason: String) async throws(ManagementError) {
        guard await self.pool.killContainer(uuid, reason: reason) else {
            throw ManagementError(.notFound, "container \(uuid) is not running on any instance")
        }
    }

    func checkHealth() async throws(ManagementError) {
        do throws(WorkerPoolError) {
            try await self.pool.checkHealth()
        } catch {
            throw ManagementError(.unavailable, error.message)
        }
    }

    private static func managementError(_ error: WorkerPoolError) -> ManagementError {
        error.code == .instanceNotFound
            ? ManagementError(.notFound, error.message) : ManagementError(.internalError, error.message)
    }
}
