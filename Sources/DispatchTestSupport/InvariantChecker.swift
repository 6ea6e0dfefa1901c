public import CloudDriverSimulated
public import DispatchModel
import Synchronization

/// Checks the dispatcher's safety rules on what a run shows from outside: every container record the API
/// commits (its change feed, in commit order) and every instance and runner event of the simulated cloud.
///
/// The rules (issue 14):
/// - a container goes Running at most once per lock, and never runs on two instances at once;
/// - `lock_count` grows only after an unlock (the container seen Queued again since its last lock);
/// - live instances (created and not yet destroyed) never exceed the instance limit;
/// - no container stays Locked longer than ``Limits/lockedWithoutInstance`` while no instance is created
///   and no runner starts for anything;
/// - `lock_count` never reaches ``Limits/maxDispatchAttempts`` (in runs whose cloud errors are transient);
/// - every instance is destroyed by the end (``finish(instancesLeft:at:)``).
///
/// Feed it from any thread; read ``violations`` and ``checks`` at the end.
public final class InvariantChecker: Sendable {
    /// The bounds the rules use; `nil` turns a rule off.
    public struct Limits: Sendable {
        /// The most instances that may be alive at once (`MaxInstances`, or the cloud's quota if lower).
        public var maxInstances: Int?
        /// The longest a container may stay Locked while nothing is created or started anywhere.
        public var lockedWithoutInstance: Duration?
        /// `Containers.MaxDispatchAttempts`: no container's `lock_count` may reach it.
        public var maxDispatchAttempts: Int?

        public init(maxInstances: Int? = nil, lockedWithoutInstance: Duration? = nil, maxDispatchAttempts: Int? = nil) {
            self.maxInstances = maxInstances
            self.lockedWithoutInstance = lockedWithoutInstance
            self.maxDispatchAttempts = maxDispatchAttempts
        }
    }

    private struct Record {
        var state: ContainerState
        var lockCount: Int
        /// The `lock_count` of the lock under which it last went Running.
        var ranUnderLock: Int?
        /// Seen Queued since its last lock.
        var unlockedSinceLock = true
        /// When it was last seen becoming Locked.
        var lockedAt: Duration?
    }

    private struct State {
        var containers: [ContainerUUID: Record] = [:]
        var runningOn: [ContainerUUID: InstanceID] = [:]
        var liveInstances: Set<InstanceID> = []
        var lastProgress: Duration = .zero
        var checks = 0
        var violations: [String] = []
    }

    public let limits: Limits
    private let state = Mutex(State())

    public init(limits: Limits) {
        self.limits = limits
    }

    /// The rule violations seen so far, each with the container or instance involved.
    public var violations: [String] { self.state.withLock { $0.violations } }

    /// How many rule checks have been made so far.
    public var checks: Int { self.state.withLock { $0.checks } }

    /// Applies container records as the API committed them, oldest first; `at` is the run's clock.
    public func observe(_ containers: [Container], at now: Duration) {
        self.state.withLock { state in
            for container in containers { Self.observe(container, at: now, limits: self.limits, &state) }
            Self.checkLocked(at: now, limits: self.limits, &state)
        }
    }

    /// Applies one event of the simulated cloud (its `elapsed` is the run's clock).
    public func observe(_ event: SimulatedCloudEvent) {
        self.state.withLock { state in
            let now = event.elapsed
            switch event.kind {
            case .instanceCreated:
                guard let id = event.instanceID else { return }
                state.liveInstances.insert(id)
                state.lastProgress = now
                state.checks += 1
                if let limit = self.limits.maxInstances, state.liveInstances.count > limit {
                    state.violations.append("\(state.liveInstances.count) instances alive at once, limit \(limit)")
                }
            case .instanceDestroyed, .instanceDisappeared:
                guard let id = event.instanceID else { return }
                state.liveInstances.remove(id)
                for (uuid, on) in state.runningOn where on == id { state.runningOn[uuid] = nil }
            case .containerStarted(let uuid):
                guard let id = event.instanceID else { return }
                state.lastProgress = now
                state.checks += 1
                if let other = state.runningOn[uuid], other != id {
                    state.violations.append("\(uuid) started on \(id) while running on \(other)")
                }
                state.runningOn[uuid] = id
            case .containerExited(let uuid, _), .runnerCrashed(let uuid), .containerKilled(let uuid, _),
                .maxRunTimeExceeded(let uuid):
                if state.runningOn[uuid] == event.instanceID { state.runningOn[uuid] = nil }
            case .errorInjected, .lockLeftStale, .instanceStoppedAnswering:
                break
            }
            Self.checkLocked(at: now, limits: self.limits, &state)
        }
    }

    /// The end of the run: `instancesLeft` instances are still in the cloud.
    public func finish(instancesLeft: Int, at now: Duration) {
        self.state.withLock { state in
            state.checks += 1
            if instancesLeft > 0 { state.violations.append("\(instancesLeft) instances left at the end") }
            Self.checkLocked(at: now, limits: self.limits, &state)
        }
    }

    private static func observe(_ container: Container, at now: Duration, limits: Limits, _ state: inout State) {
        let uuid = container.uuid
        var record = state.containers[uuid] ?? Record(state: container.state, lockCount: 0)
        state.checks += 3
        if container.lockCount > record.lockCount {
            if !record.unlockedSinceLock || container.lockCount > record.lockCount + 1 {
                state.violations.append(
                    "\(uuid) lock_count \(record.lockCount) → \(container.lockCount) without an unlock"
                )
            }
            record.unlockedSinceLock = false
            record.lockCount = container.lockCount
            record.lockedAt = now
        }
        if let limit = limits.maxDispatchAttempts, container.lockCount >= limit {
            state.violations.append("\(uuid) reached MaxDispatchAttempts (lock_count \(container.lockCount))")
        }
        switch container.state {
        case .queued:
            record.unlockedSinceLock = true
            record.lockedAt = nil
        case .locked:
            if record.state != .locked { record.lockedAt = now }
        case .running where record.state != .running:
            if record.ranUnderLock == container.lockCount {
                state.violations.append("\(uuid) went Running twice under lock \(container.lockCount)")
            }
            record.ranUnderLock = container.lockCount
            record.lockedAt = nil
        default:
            record.lockedAt = nil
        }
        record.state = container.state
        state.containers[uuid] = record
    }

    /// Containers Locked too long while nothing was created or started anywhere.
    private static func checkLocked(at now: Duration, limits: Limits, _ state: inout State) {
        guard let bound = limits.lockedWithoutInstance else { return }
        state.checks += 1
        guard now - state.lastProgress > bound else { return }
        for (uuid, record) in state.containers {
            guard record.state == .locked, let since = record.lockedAt, now - since > bound else { continue }
            state.violations.append("\(uuid) Locked for \(now - since) with no instance created or runner started")
            state.containers[uuid]?.lockedAt = nil
        }
    }
}
