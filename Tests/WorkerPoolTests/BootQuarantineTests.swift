import CloudDriverSimulated
import DispatchModel
import DispatchTestSupport
import Synchronization
import Testing

@testable import WorkerPool

@Suite("Boot quarantine")
struct BootQuarantineTests {
    typealias Quarantine = BootQuarantine<ManualClock.Instant>
    static let type1 = Fixtures.instanceType(1)
    static let type2 = Fixtures.instanceType(2)
    static let pair = Quarantine.Pair(type: "type1", image: "image-1")

    static func configuration(failures: Int = 3) -> Quarantine.Configuration {
        var configuration = Quarantine.Configuration()
        configuration.failures = failures
        configuration.window = .seconds(600)
        configuration.cooldown = .seconds(100)
        configuration.maxCooldown = .seconds(350)
        return configuration
    }

    @Test("N failures in a row within the window enter quarantine; fewer, or spread out, do not")
    func entering() {
        let clock = ManualClock()
        var quarantine = Quarantine(configuration: Self.configuration())
        do {
            let decision = quarantine.bootFailed(Self.pair, at: clock.now)
            #expect(decision == .none)
        }
        clock.advance(by: .seconds(700))
        // The first failure is now outside the window.
        do {
            let decision = quarantine.bootFailed(Self.pair, at: clock.now)
            #expect(decision == .none)
        }
        do {
            let decision = quarantine.bootFailed(Self.pair, at: clock.now)
            #expect(decision == .none)
        }
        #expect(!quarantine.isQuarantined(Self.pair, at: clock.now))
        let decision = quarantine.bootFailed(Self.pair, at: clock.now)
        #expect(
            decision
                == .quarantined(
                    until: clock.now.advanced(by: .seconds(100)),
                    cooldown: .seconds(100),
                    level: 1,
                    failures: 3
                )
        )
        #expect(quarantine.isQuarantined(Self.pair, at: clock.now))
        // Another image of the same type is not quarantined.
        #expect(!quarantine.isQuarantined(.init(type: "type1", image: "image-2"), at: clock.now))
        clock.advance(by: .seconds(100))
        #expect(!quarantine.isQuarantined(Self.pair, at: clock.now))
    }

    @Test("A success in between resets the count")
    func successResets() {
        let clock = ManualClock()
        var quarantine = Quarantine(configuration: Self.configuration())
        _ = quarantine.bootFailed(Self.pair, at: clock.now)
        _ = quarantine.bootFailed(Self.pair, at: clock.now)
        quarantine.bootSucceeded(Self.pair)
        do {
            let decision = quarantine.bootFailed(Self.pair, at: clock.now)
            #expect(decision == .none)
        }
    }

    @Test("Each quarantine in a row doubles the cooldown, up to the maximum; one trial failure is enough")
    func growing() {
        let clock = ManualClock()
        var quarantine = Quarantine(configuration: Self.configuration(failures: 2))
        var cooldowns: [Duration] = []
        for _ in 0..<4 {
            var decision = quarantine.bootFailed(Self.pair, at: clock.now)
            if decision == .none { decision = quarantine.bootFailed(Self.pair, at: clock.now) }
            guard case .quarantined(_, let cooldown, _, _) = decision else {
                Issue.record("not quarantined: \(decision)")
                return
            }
            cooldowns.append(cooldown)
            // A failure of an instance created before the quarantine does not extend it.
            do {
                let decision = quarantine.bootFailed(Self.pair, at: clock.now)
                #expect(decision == .none)
            }
            clock.advance(by: cooldown)
        }
        #expect(cooldowns == [.seconds(100), .seconds(200), .seconds(350), .seconds(350)])
    }

    @Test("An operator's lift ends it now; lifting a type not quarantined says so")
    func lifting() {
        let clock = ManualClock()
        var quarantine = Quarantine(configuration: Self.configuration(failures: 1))
        _ = quarantine.bootFailed(Self.pair, at: clock.now)
        #expect(quarantine.isQuarantined(Self.pair, at: clock.now))
        let lifted = quarantine.lift("type1", at: clock.now)
        #expect(lifted)
        #expect(!quarantine.isQuarantined(Self.pair, at: clock.now))
        let again = quarantine.lift("type1", at: clock.now)
        #expect(!again)
    }

    @Test("Failures 0 turns quarantine off")
    func off() {
        var quarantine = Quarantine(configuration: Self.configuration(failures: 0))
        for _ in 0..<10 {
            let decision = quarantine.bootFailed(Self.pair, at: ManualClock().now)
            #expect(decision == .none)
        }
    }

    final class Events: Sendable {
        let events = Mutex<[JournalEvent]>([])
        var sink: JournalSink { JournalSink { event in self.events.withLock { $0.append(event) } } }
        func kinds(_ kind: JournalEvent.Kind) -> [JournalEvent] {
            self.events.withLock { $0.filter { $0.kind == kind } }
        }
    }

    @Test(
        "In the pool: broken boots quarantine the type, the next type is used, the cooldown grows, an operator lifts it"
    )
    func pool() async throws {
        var configuration = PoolHarness.configuration(types: [Self.type1, Self.type2])
        configuration.timeouts.booting = .seconds(1)
        configuration.bootQuarantine.failures = 2
        configuration.bootQuarantine.cooldown = .seconds(100)
        var parameters = PoolHarness.parameters()
        parameters.brokenAtFirst = [Self.type1.providerType: .seconds(1_000_000)]
        let events = Events()
        let harness = PoolHarness.start(configuration: configuration, parameters: parameters, journal: events.sink)
        let pool = harness.pool

        // Entering: two broken boots of type1.
        #expect(await pool.create(Self.type1))
        #expect(await pool.create(Self.type1))
        await harness.eventually(2, in: .booting)
        harness.advanceProbeTick()
        await harness.eventually("type1 quarantined") { await $0.isQuarantined(Self.type1.name) }
        #expect(await pool.quarantines().map(\.level) == [1])
        #expect(events.kinds(.quarantine).count == 1)
        #expect(events.kinds(.shutdown).allSatisfy { $0.reason == ShutdownReason.bootTimeout.rawValue })

        // Falling back: type1 is refused and reported at capacity to the planner; type2 is created.
        #expect(await !pool.create(Self.type1))
        #expect(await pool.schedulingState().typesAtCapacity == [Self.type1.name])
        #expect(await pool.create(Self.type2))

        // Growing: after the cooldown one more broken boot quarantines it for twice as long.
        harness.clock.advance(by: .seconds(100))
        await harness.eventually("cooldown over") { await !$0.isQuarantined(Self.type1.name) }
        #expect(await pool.create(Self.type1))
        await harness.eventually("a new type1 worker booting") { pool in
            await pool.instances().contains {
                $0.instance != nil && $0.instanceType.name == Self.type1.name && $0.workerState == .booting
            }
        }
        harness.advanceProbeTick()
        await harness.eventually("type1 quarantined again") { await $0.isQuarantined(Self.type1.name) }
        #expect(await pool.quarantines().map(\.level) == [2])
        #expect(events.kinds(.quarantine).last?.figures.contains(.init("cooldown", "200s")) == true)

        // Lifting.
        try await pool.liftQuarantine(Self.type1.name)
        #expect(await !pool.isQuarantined(Self.type1.name))
        #expect(await pool.create(Self.type1))
        await #expect(throws: WorkerPoolError.self) { try await pool.liftQuarantine(Self.type2.name) }
        #expect(events.kinds(.quarantineLifted).map(\.reason).contains("lifted by operator"))
        #expect(harness.metrics.counterValue("arvados_dispatchcloud_boot_quarantines_total") == 2)
        await harness.stop()
    }
}
