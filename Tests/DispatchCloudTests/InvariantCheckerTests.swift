import CloudDriverSimulated
import DispatchModel
import DispatchTestSupport
import Testing

/// The invariant checker catches each rule it states, and passes a clean history.
@Suite("Invariant checker")
struct InvariantCheckerTests {
    static let uuid: ContainerUUID = "zzzzz-dz642-000000000000001"

    static func record(_ state: ContainerState, lockCount: Int) -> Container {
        var container = Container(uuid: Self.uuid, state: state, priority: 1)
        container.lockCount = lockCount
        return container
    }

    static func event(_ kind: SimulatedCloudEvent.Kind, _ id: String?, at seconds: Int) -> SimulatedCloudEvent {
        SimulatedCloudEvent(kind: kind, instanceID: id.map { InstanceID(rawValue: $0) }, elapsed: .seconds(seconds))
    }

    static let limits = InvariantChecker.Limits(
        maxInstances: 2,
        lockedWithoutInstance: .seconds(60),
        maxDispatchAttempts: 3
    )

    @Test("A clean history: locked, requeued, locked again, run once, complete; every instance destroyed")
    func clean() {
        let checker = InvariantChecker(limits: Self.limits)
        checker.observe([Self.record(.queued, lockCount: 0), Self.record(.locked, lockCount: 1)], at: .seconds(1))
        checker.observe(Self.event(.instanceCreated(providerType: "t"), "i-1", at: 2))
        checker.observe([Self.record(.queued, lockCount: 1), Self.record(.locked, lockCount: 2)], at: .seconds(3))
        checker.observe(Self.event(.containerStarted(Self.uuid), "i-1", at: 4))
        checker.observe([Self.record(.running, lockCount: 2), Self.record(.complete, lockCount: 2)], at: .seconds(5))
        checker.observe(Self.event(.containerExited(Self.uuid, exitCode: 0), "i-1", at: 5))
        checker.observe(Self.event(.instanceDestroyed, "i-1", at: 6))
        checker.finish(instancesLeft: 0, at: .seconds(7))
        #expect(checker.violations.isEmpty, "\(checker.violations)")
        #expect(checker.checks > 10)
    }

    @Test("Each rule is caught")
    func violations() {
        var checker = InvariantChecker(limits: Self.limits)
        checker.observe([Self.record(.locked, lockCount: 1), Self.record(.running, lockCount: 1)], at: .zero)
        checker.observe([Self.record(.locked, lockCount: 1), Self.record(.running, lockCount: 1)], at: .zero)
        #expect(checker.violations.contains { $0.contains("Running twice under lock 1") })

        checker = InvariantChecker(limits: Self.limits)
        checker.observe([Self.record(.locked, lockCount: 1), Self.record(.locked, lockCount: 2)], at: .zero)
        #expect(checker.violations.contains { $0.contains("without an unlock") })

        checker = InvariantChecker(limits: Self.limits)
        checker.observe(Self.event(.containerStarted(Self.uuid), "i-1", at: 0))
        checker.observe(Self.event(.containerStarted(Self.uuid), "i-2", at: 1))
        #expect(checker.violations.contains { $0.contains("while running on i-1") })

        checker = InvariantChecker(limits: Self.limits)
        for i in 1...3 { checker.observe(Self.event(.instanceCreated(providerType: "t"), "i-\(i)", at: i)) }
        #expect(checker.violations.contains { $0.contains("3 instances alive at once") })

        checker = InvariantChecker(limits: Self.limits)
        checker.observe([Self.record(.locked, lockCount: 3)], at: .zero)
        #expect(checker.violations.contains { $0.contains("MaxDispatchAttempts") })

        checker = InvariantChecker(limits: Self.limits)
        checker.observe([Self.record(.locked, lockCount: 1)], at: .seconds(1))
        checker.observe([], at: .seconds(62))
        #expect(checker.violations.contains { $0.contains("Locked for") })

        checker = InvariantChecker(limits: Self.limits)
        checker.finish(instancesLeft: 1, at: .zero)
        #expect(checker.violations == ["1 instances left at the end"])
    }
}
