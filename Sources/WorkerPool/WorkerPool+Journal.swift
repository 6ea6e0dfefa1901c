import CloudDriver
import DispatchModel
import Foundation

extension WorkerPool {
    /// Records one of the pool's decisions in the journal, at the wall-clock time now.
    func record(
        _ kind: JournalEvent.Kind,
        instance: InstanceID? = nil,
        container: ContainerUUID? = nil,
        type: InstanceTypeName? = nil,
        reason: String,
        figures: [JournalEvent.Figure] = []
    ) {
        guard self.journal.isEnabled else { return }
        self.journal.record(
            JournalEvent(
                time: self.wallClock(),
                kind: kind,
                container: container,
                instance: instance,
                instanceType: type,
                reason: reason,
                figures: figures
            )
        )
    }

    /// A shutdown, with how long the worker had been idle or booting and what it was running.
    func recordShutdown(_ id: InstanceID, _ worker: Worker, reason: ShutdownReason) {
        guard self.journal.isEnabled else { return }
        let now = self.now
        var figures: [JournalEvent.Figure] = [
            .init("state", worker.machine.state.rawValue),
            .init("age", Self.seconds(worker.machine.appeared.duration(to: now))),
            .init("price", "\(worker.type.price)"),
        ]
        switch reason {
        case .idleTimeout:
            figures.append(.init("idle", Self.seconds(worker.machine.busy.duration(to: now))))
            figures.append(.init("TimeoutIdle", Self.seconds(worker.machine.timeouts.idle)))
        case .bootTimeout:
            figures.append(.init("TimeoutBooting", Self.seconds(worker.machine.timeouts.booting)))
        case .probeTimeout:
            figures.append(.init("TimeoutProbe", Self.seconds(worker.machine.timeouts.probe)))
        default:
            break
        }
        let containers = worker.machine.containers
        if !containers.isEmpty {
            figures.append(.init("containers", containers.map(\.rawValue).sorted().joined(separator: " ")))
        }
        self.record(.shutdown, instance: id, type: worker.type.name, reason: reason.rawValue, figures: figures)
        for uuid in containers {
            self.record(.shutdown, instance: id, container: uuid, type: worker.type.name, reason: reason.rawValue)
        }
    }

    /// A probe whose outcome changed the worker's state (booted, failed its boot, or turned broken).
    func recordProbe(_ id: InstanceID, before: WorkerState, booted: Bool, actions: [Machine.Action]) {
        guard self.journal.isEnabled, let worker = self.workers[id] else { return }
        let after = worker.machine.state
        let failedBoot = actions.contains(.reportBootOutcome(.failure))
        guard after != before || failedBoot else { return }
        let reason: String
        if failedBoot {
            reason = "boot probe failed: worker broken"
        } else if before == .booting || before == .unknown {
            reason = booted ? "probe succeeded: worker ready" : "run probe answered"
        } else {
            reason = "probe moved the worker from \(before.rawValue) to \(after.rawValue)"
        }
        self.record(
            .probe,
            instance: id,
            type: worker.type.name,
            reason: reason,
            figures: [
                .init("from", before.rawValue), .init("to", after.rawValue),
                .init("since_appeared", Self.seconds(worker.machine.appeared.duration(to: self.now))),
            ]
        )
    }

    /// A new worker: created by this process (booting), or adopted from the cloud's list (unknown).
    func recordAppeared(_ id: InstanceID, type: InstanceType, state: WorkerState, behavior: IdleBehavior) {
        if state == .unknown {
            self.record(
                .adopt,
                instance: id,
                type: type.name,
                reason: "listed by the cloud, not created by this process",
                figures: [.init("idle_behavior", behavior.rawValue)]
            )
        } else {
            self.record(
                .appear,
                instance: id,
                type: type.name,
                reason: "created instance listed",
                figures: [.init("price", "\(type.price)")]
            )
        }
    }

    /// A worker gone from the cloud's list; its containers' timelines say so too (a preemption, when it was
    /// not shut down).
    func recordVanished(_ id: InstanceID, _ worker: Worker, machine: Machine) {
        guard self.journal.isEnabled else { return }
        let expected = worker.machine.state == .shutdown
        let reason =
            expected
            ? "destroyed instance gone from the cloud's list"
            : "instance vanished (preempted or removed outside the dispatcher)"
        self.record(
            .vanish,
            instance: id,
            type: worker.type.name,
            reason: reason,
            figures: [.init("state", worker.machine.state.rawValue)]
        )
        for uuid in worker.machine.containers {
            self.record(.vanish, instance: id, container: uuid, type: worker.type.name, reason: reason)
        }
    }

    /// A failed create whose error holds creates (quota, capacity, rate limit).
    func recordCreateFailed(_ type: InstanceType, _ error: CloudError, otherInstances: Int, expiry: PoolInstant?) {
        guard self.journal.isEnabled else { return }
        var figures: [JournalEvent.Figure] = [.init("error", "\(error.code)"), .init("instances", "\(otherInstances)")]
        let reason: String
        switch error.code {
        case .quotaExceeded:
            reason = "cloud quota reached: creates held"
            if expiry == nil { figures.append(.init("until_fewer_than", "\(otherInstances)")) }
        case .insufficientCapacity:
            reason = "cloud out of capacity for \(type.providerType)\(type.preemptible ? " (spot)" : ""): creates held"
        case .rateLimited:
            reason = "cloud rate limit: creates paused"
        default:
            reason = "create failed"
        }
        if let expiry {
            // A deadline, not an event: the wall time it ends at if the wall clock does not jump meanwhile.
            let wallUntil = self.wallClock().advanced(by: self.now.duration(to: expiry))
            figures.append(.init("until", wallUntil.rfc3339))
        }
        self.record(.hold, type: type.name, reason: reason, figures: figures)
    }

    /// A duration as whole seconds, `61s`.
    static func seconds(_ duration: Duration) -> String {
        "\(duration.components.seconds)s"
    }
}
