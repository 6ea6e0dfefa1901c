import CloudDriver
import CoreMetrics
public import DispatchModel
import Foundation
import Logging

extension WorkerPool {
    /// Feeds a boot outcome of worker `id` to the quarantine; journals and schedules what it decides.
    func bootOutcome(_ outcome: BootOutcome, of id: InstanceID) {
        guard let worker = self.workers[id] else { return }
        let pair = BootQuarantine<PoolInstant>.Pair(type: worker.type.name, image: self.configuration.imageID)
        let now = self.now
        switch outcome {
        case .success:
            self.quarantine.bootSucceeded(pair)
        case .failure:
            guard
                case .quarantined(let until, let cooldown, let level, let failures) =
                    self.quarantine.bootFailed(pair, at: now)
            else { return }
            self.logger.warning(
                "Instance type quarantined after failed boots",
                metadata: [
                    "instance.type": "\(pair.type)", "image": "\(pair.image)", "quarantine.level": "\(level)",
                    "quarantine.cooldown": "\(cooldown)",
                ]
            )
            self.record(
                .quarantine,
                instance: id,
                type: pair.type,
                reason:
                    "\(failures) failed boot\(failures == 1 ? "" : "s") in a row: no creates of this type and image",
                figures: [
                    .init("image", pair.image.rawValue), .init("level", "\(level)"),
                    .init("cooldown", Self.seconds(cooldown)), .init("until", self.wallTime(until).rfc3339),
                ]
            )
            self.metrics.quarantines.increment()
            self.notify()
            self.scheduleQuarantineEnd(pair.type, at: until)
        case .aborted, .disappeared:
            break
        }
    }

    /// Notifies the scheduler (and journals) when a quarantine ends by itself.
    private func scheduleQuarantineEnd(_ type: InstanceTypeName, at until: PoolInstant) {
        let clock = self.clock
        let until = self.clockInstant(until)
        self.spawn {
            do {
                try await clock.sleep(until: until, tolerance: nil)
            } catch {
                return
            }
            await self.quarantineMayHaveEnded(type)
        }
    }

    private func quarantineMayHaveEnded(_ type: InstanceTypeName) {
        let pair = BootQuarantine<PoolInstant>.Pair(type: type, image: self.configuration.imageID)
        guard !self.quarantine.isQuarantined(pair, at: self.now),
            self.quarantine.records[pair]?.until != nil
        else { return }
        self.record(.quarantineLifted, type: type, reason: "cooldown over: the next create is a trial")
        self.notify()
    }

    /// Whether creates of `type` are held by a boot quarantine.
    func isQuarantined(_ type: InstanceTypeName) -> Bool {
        self.quarantine.isQuarantined(.init(type: type, image: self.configuration.imageID), at: self.now)
    }

    /// Every quarantine in force: the type, the image, when it ends (wall clock), and its level.
    public func quarantines() -> [QuarantineView] {
        self.quarantine.quarantined(at: self.now).map { pair, record in
            QuarantineView(
                instanceType: pair.type,
                imageID: pair.image,
                until: self.wallTime(record.until!),
                level: record.level
            )
        }
    }

    /// Lifts the quarantine of `type` now, at an operator's request.
    public func liftQuarantine(_ type: InstanceTypeName) throws(WorkerPoolError) {
        guard self.quarantine.lift(type, at: self.now) else {
            throw WorkerPoolError(code: .notQuarantined, message: "instance type \(type) is not quarantined")
        }
        self.logger.info("Quarantine lifted by operator", metadata: ["instance.type": "\(type)"])
        self.record(.quarantineLifted, type: type, reason: "lifted by operator")
        self.notify()
    }

    /// The wall-clock time of a deadline (a quarantine's or a hold's end): not an event that happened, so it
    /// is the wall time it ends at if the wall clock does not jump meanwhile.
    func wallTime(_ deadline: PoolInstant) -> Timestamp {
        self.wallClock().advanced(by: self.now.duration(to: deadline))
    }
}

/// One quarantine in force, as the pool reports it.
public struct QuarantineView: Hashable, Sendable {
    public var instanceType: InstanceTypeName
    public var imageID: ImageID
    public var until: Timestamp
    public var level: Int
}

extension WorkerPool {
    /// When each configured type's capacity hold ends (wall clock), for the types held now.
    public func capacityHeldUntil() -> [InstanceTypeName: Timestamp] {
        let now = self.now
        var result: [InstanceTypeName: Timestamp] = [:]
        for type in self.configuration.instanceTypes.values {
            let keys = [
                "", self.instanceSet.quotaGroup(for: type).rawValue,
                CloudError.CapacityScope.instanceType(type).holdKey,
            ]
            let until = keys.compactMap { self.holds.atCapacityUntil[$0] }.filter { now < $0 }.max()
            if let until { result[type.name] = self.wallTime(until) }
        }
        return result
    }
}
