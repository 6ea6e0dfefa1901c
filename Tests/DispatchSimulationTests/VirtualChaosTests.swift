import CloudDriverSimulated
import DispatchModel
import Foundation
import Logging
import SimulatedRunner
import Testing

/// Chaos at scale on the virtual clock (issue 14): the whole dispatcher through cloud errors, capacity and
/// quota errors, broken, unresponsive and runner-less instances, runner crashes, stale locks, spot reclaims,
/// 503 bursts and `kill -9`-equivalent restarts, with the invariant checker reading everything.
@Suite("Virtual chaos", .serialized)
struct VirtualChaosTests {
    static let environment = ProcessInfo.processInfo.environment
    /// `VCHAOS_CONTAINERS`, `VCHAOS_RESTARTS` and `VCHAOS_SEED` make another run (10,000 and 10 for the long one).
    /// 2,000 by default. They arrive at 400 an hour (`VCHAOS_ARRIVAL_SECONDS` apart on average, 9 s), about what
    /// the 80-instance quota runs, so a longer run is a longer day, not a deeper backlog: 2,000 is five hours at
    /// the cloud's quota, in about 50 s. Run with `SWIFT_DETERMINISTIC_HASHING=1`, a seed repeats its run exactly.
    static let containers = Int(Self.environment["VCHAOS_CONTAINERS"] ?? "") ?? 2000
    static let arrivalSeconds = Int64(Self.environment["VCHAOS_ARRIVAL_SECONDS"] ?? "") ?? 9
    static let restarts = Int(Self.environment["VCHAOS_RESTARTS"] ?? "") ?? 5
    static let seed = UInt64(Self.environment["VCHAOS_SEED"] ?? "") ?? 20_261_203

    @Test(
        "Mixed containers through every fault and kill -9 restarts each finish exactly once, and no instance is left",
        .timeLimit(.minutes(Self.containers > 2000 ? 120 : 15))
    )
    func chaosAtScale() async throws {
        var options = VirtualChaos.Options()
        options.containers = Self.containers
        options.restarts = Self.restarts
        options.seed = Self.seed
        options.arrivalSpan = .seconds(Self.arrivalSeconds * Int64(options.containers))
        // A kill -9 leaves the containers Locked for new instances at that moment without a runner; the new
        // dispatcher unlocks them (Arvados's stale-lock fix) and each such restart costs them one attempt.
        options.maxDispatchAttempts = 5 + options.restarts
        if let level = Self.environment["VCHAOS_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) {
            options.logLevel = level
        }
        let started = ContinuousClock.now
        let report = try await VirtualChaos(options: options).run()
        let wall = ContinuousClock.now - started
        let seed = "seed \(options.seed) (VCHAOS_SEED)"

        #expect(report.stuck == nil, "\(report.stuck ?? ""); \(seed)")
        #expect(report.violations.isEmpty, "\(report.violations.prefix(20)); \(seed)")
        #expect(report.restarts == options.restarts, "\(seed)")
        #expect(report.instancesLeft == 0, "\(seed)")
        // Nothing ran off the simulation's thread and came back at a moment the machine chose: the run repeats.
        #expect(report.outsideJobs == 0, "\(seed)")
        #expect(report.uuids.count + report.refusedAtCreate == options.containers)
        let outcome = Self.checkExactlyOnce(report, seed: seed)
        // Lock counts stay low: each kill -9 may cost the containers Locked at that moment an attempt, and quota,
        // capacity and lost instances little more (the highest was 2 or 3 in every run since Locked containers keep
        // their instances behind one the quota stops). Before, quota windows relocked the same containers again and
        // again: 5 to 10 here, 7 with this seed and deterministic hashing.
        let highestLockCount = report.final.values.map(\.lockCount).max() ?? 0
        #expect(highestLockCount <= options.restarts + 1, "highest lock_count \(highestLockCount); \(seed)")

        let faults = Self.faults(report)
        #expect(report.preemptions > 0, "no spot reclaim happened")
        #expect(report.refused503 > 0, "the 503 bursts reached no request")
        #expect(report.quotaWindowRefusals > 0, "the quota never came")
        for kind in [
            "Create other", "List other", "Destroy other", "Create insufficientCapacity",
            "runner crash", "stale lock",
        ] {
            #expect(faults[kind, default: 0] > 0, "no \(kind) fault was injected")
        }
        let faultList = faults.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print(
            "virtual chaos: \(report.uuids.count) containers (\(report.refusedAtCreate) refused at create), "
                + "\(report.restarts) restarts (at \(report.restartTimes.map { "\($0)s" }.joined(separator: " "))), "
                + "highest lock_count \(highestLockCount), \(outcome.complete) complete, \(outcome.cancelled) cancelled "
                + "(\(outcome.lostRun) after losing a run), \(outcome.requeuedAndRan) ran under more than one lock; "
                + "faults: \(faultList), quota-window refusals \(report.quotaWindowRefusals), "
                + "preemptions \(report.preemptions), 503 answers \(report.refused503); "
                + "\(report.events.count { $0.kind == .instanceDestroyed }) instances destroyed; "
                + "virtual time \(Self.format(report.virtualTime)), wall time \(Self.format(wall)), "
                + "\(report.jobs) executor jobs (\(report.outsideJobs) from outside); \(report.checks) invariant checks, \(report.violations.count) violations; \(seed)"
        )
    }

    /// The quota-churn run: 150 containers of 6 VCPUs, one per 8-VCPU instance, a cloud quota of 10 instances
    /// and the quota closed besides for 20 s at a random moment of every minute for 30 minutes.
    static func quotaChurnOptions() -> VirtualChaos.Options {
        var options = VirtualChaos.Options()
        options.containers = 150
        options.restarts = 0
        options.instanceTypes = [8]
        options.shape = .sixVCPUs
        options.arrivalSpan = .seconds(60)
        options.runTime = .init(min: .seconds(120), max: .seconds(240))
        options.cloudErrorRate = 0
        options.capacityErrors = [:]
        options.brokenAtFirst = [:]
        options.brokenRate = 0
        options.unresponsiveRate = 0
        options.runnerMissingRate = 0
        options.runnerCrashRate = 0
        options.staleLockRate = 0
        options.cloudQuota = 10
        options.maxInstances = 64
        options.quotaWindows = .init(period: .seconds(60), closed: .seconds(20), until: .seconds(1800))
        options.preemptionEvery = nil
        options.bursts503 = 0
        if let level = Self.environment["VCHAOS_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) {
            options.logLevel = level
        }
        return options
    }

    /// The must-show quota churn: the quota closes just as each one-minute hold lifts, so every try meets
    /// it, once a minute for 30 minutes, and no instance is created while it lasts. Trying the quota must not
    /// cost the next container in line a dispatch attempt each time (before the fix it was locked and
    /// unlocked once a minute, and cancelled after five).
    @Test(
        "Quota errors every minute for 30 simulated minutes with 8-VCPU types lock no container more than twice and cancel none",
        .timeLimit(.minutes(10))
    )
    func quotaChurnThroughTheSimulator() async throws {
        var options = Self.quotaChurnOptions()
        options.quotaWindows?.aligned = true
        let report = try await Self.checkQuotaChurn(options, name: "quota churn")
        let minutes = report.quotaErrorMinutes.filter { $0 < 30 }
        #expect(
            minutes.count >= 25,
            "quota errors in only \(minutes.count) of the first 30 minutes: \(minutes.sorted()); creates in \(report.createMinutes.sorted())"
        )
    }

    /// The quota closes for 20 s at a random moment of each minute while instances run and the cloud's own
    /// quota of 10 is full. After a quota error with instances up the pool waits for fewer instances (as
    /// Arvados's `atQuotaUntilFewerInstances`), so errors come only when instances go.
    @Test(
        "A quota that comes and goes at random moments while instances run locks no container more than twice and cancels none",
        .timeLimit(.minutes(10))
    )
    func quotaAtRandomMoments() async throws {
        let report = try await Self.checkQuotaChurn(Self.quotaChurnOptions(), name: "quota at random moments")
        #expect(!report.quotaErrorMinutes.isEmpty)
    }

    @discardableResult
    static func checkQuotaChurn(_ options: VirtualChaos.Options, name: String) async throws -> VirtualChaos.Report {
        let report = try await VirtualChaos(options: options).run()

        #expect(report.stuck == nil, "\(report.stuck ?? "")")
        #expect(report.violations.isEmpty, "\(report.violations.prefix(20))")
        let minutes = report.quotaErrorMinutes.filter { $0 < 30 }
        let maxLockCount = report.final.values.map(\.lockCount).max() ?? 0
        #expect(maxLockCount <= 2, "a container was locked \(maxLockCount) times")
        let cancelled = report.final.values.filter { $0.state == .cancelled }
        #expect(
            cancelled.isEmpty,
            "\(cancelled.count) cancelled: \(cancelled.prefix(3).map { "\($0.uuid) \(report.histories[$0.uuid] ?? [])" })"
        )
        #expect(report.final.count == options.containers && report.final.values.allSatisfy { $0.state == .complete })
        #expect(report.instancesLeft == 0)
        print(
            "\(name): \(report.final.count) containers, quota errors in \(minutes.count) of the first 30 minutes "
                + "(\(report.quotaWindowRefusals) injected), highest lock_count \(maxLockCount), \(cancelled.count) cancelled, "
                + "virtual time \(Self.format(report.virtualTime))"
        )
        return report
    }

    struct Outcome {
        var complete = 0
        var cancelled = 0
        var lostRun = 0
        var requeuedAndRan = 0
    }

    /// Every container ended; a Complete one was completed exactly once by its runner, with the exit code
    /// the API shows, and went Running at most once per lock; a Cancelled one was never completed, lost a
    /// run (its runner crashed or was killed, or its instance went away under it), and was not cancelled for
    /// running out of dispatch attempts.
    static func checkExactlyOnce(_ report: VirtualChaos.Report, seed: String) -> Outcome {
        var running: [ContainerUUID: Int] = [:]
        var completed: [ContainerUUID: [Int32]] = [:]
        for update in report.updates where update.failure == nil {
            switch update.event.kind {
            case .containerStarted(let uuid): running[uuid, default: 0] += 1
            case .containerExited(let uuid, let code): completed[uuid, default: []].append(code)
            default: break
            }
        }
        // Containers whose run was lost: a crash, a kill, or the instance destroyed under a live run.
        var live: [InstanceID: Set<ContainerUUID>] = [:]
        var lost: Set<ContainerUUID> = []
        for event in report.events {
            switch event.kind {
            case .containerStarted(let uuid):
                if let id = event.instanceID { live[id, default: []].insert(uuid) }
            case .containerExited(let uuid, _), .maxRunTimeExceeded(let uuid):
                if let id = event.instanceID { live[id]?.remove(uuid) }
            case .runnerCrashed(let uuid), .containerKilled(let uuid, _):
                if let id = event.instanceID { live[id]?.remove(uuid) }
                lost.insert(uuid)
            case .instanceDestroyed, .instanceDisappeared:
                if let id = event.instanceID, let runs = live.removeValue(forKey: id) { lost.formUnion(runs) }
            case .instanceStoppedAnswering:
                // Its runs go on, but the dispatcher can no longer see them: one that ends Complete is fine, and
                // one cancelled for running on no worker it knows lost its run to the fault.
                if let id = event.instanceID { lost.formUnion(live[id] ?? []) }
            default:
                break
            }
        }
        var outcome = Outcome()
        var problems: [String] = []
        for uuid in report.uuids {
            guard let container = report.final[uuid] else {
                problems.append("\(uuid) is gone")
                continue
            }
            let runs = running[uuid] ?? 0
            if runs > max(1, container.lockCount) {
                problems.append("\(uuid) went Running \(runs) times under \(container.lockCount) locks")
            }
            if runs > 1 { outcome.requeuedAndRan += 1 }
            switch container.state {
            case .complete:
                outcome.complete += 1
                if completed[uuid]?.count != 1 {
                    problems.append("\(uuid) completed \(completed[uuid]?.count ?? 0) times")
                } else if completed[uuid]?.first.map(Int.init) != container.exitCode {
                    problems.append("\(uuid)'s exit code \(container.exitCode.map(String.init) ?? "nil")")
                }
            case .cancelled:
                outcome.cancelled += 1
                let error = container.runtimeStatus["error"]?.stringValue ?? ""
                if completed[uuid] != nil { problems.append("\(uuid) is Cancelled but its runner completed it") }
                if error.contains("MaxDispatchAttempts") || error.contains("dispatch attempts") {
                    problems.append("\(uuid): \(error): \(report.histories[uuid] ?? [])")
                } else if lost.contains(uuid) {
                    outcome.lostRun += 1
                } else {
                    problems.append(
                        "\(uuid) Cancelled without losing a run: \(error) (lock_count \(container.lockCount))"
                    )
                }
            default:
                problems.append("\(uuid) is \(container.state)")
            }
        }
        #expect(problems.isEmpty, "\(problems.count) containers: \(problems.prefix(20)); \(seed)")
        return outcome
    }

    /// Faults injected, by kind.
    static func faults(_ report: VirtualChaos.Report) -> [String: Int] {
        var faults: [String: Int] = [:]
        for event in report.events {
            switch event.kind {
            case .errorInjected(let operation, let code): faults["\(operation) \(code)", default: 0] += 1
            case .runnerCrashed: faults["runner crash", default: 0] += 1
            case .lockLeftStale: faults["stale lock", default: 0] += 1
            case .instanceStoppedAnswering: faults["unresponsive instance", default: 0] += 1
            default: break
            }
        }
        return faults
    }

    static func format(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        return seconds >= 3600
            ? "\(seconds / 3600)h\(String(format: "%02d", seconds % 3600 / 60))m"
            : "\(seconds / 60)m\(String(format: "%02d", seconds % 60))s"
    }
}
