import DispatchModel
import Testing

@testable import WorkerPool

/// A run probe whose listing says what the machine already knows is answered by a short walk
/// (``WorkerStateMachine/listingMatches(_:_:)``); anything else takes the full update. The two must agree.
@Suite("Probe listings")
struct ProbeListingTests {
    static let t0 = ContinuousClock.now
    static let uuids: [ContainerUUID] = (1...6).map { ContainerUUID(rawValue: "zzzzz-dz642-00000000000000\($0)") }

    /// What the full update decides, written out plainly: the listing changes nothing when every listed runner
    /// is known and past starting, and every running runner is listed.
    static func changesNothing(_ listed: [ContainerUUID], _ runners: Machine.Runners) -> Bool {
        for uuid in listed {
            switch runners[uuid]?.stage {
            case .running, .finishing: continue
            case .starting, nil: return false
            }
        }
        let alive = Set(listed)
        return runners.byUUID.allSatisfy { uuid, runner in runner.stage != .running || alive.contains(uuid) }
    }

    @Test("The short walk agrees with the full update on 20,000 random runner tables and listings, repeats aside")
    func agreesWithTheFullUpdate() {
        var generator = SystemRandomNumberGenerator()
        var matched = 0
        for _ in 0..<20_000 {
            var runners = Machine.Runners()
            for uuid in Self.uuids.prefix(Int.random(in: 0...4, using: &generator)) {
                let stage: Machine.Runner.Stage =
                    switch Int.random(in: 0..<5, using: &generator) {
                    case 0: .starting
                    case 1: .finishing(since: Self.t0)
                    default: .running
                    }
                runners[uuid] = Machine.Runner(stage)
            }
            // Listings drawn from the known runners and a stranger, with repeats.
            let listed = (0..<Int.random(in: 0...5, using: &generator)).map { _ in
                Self.uuids[Int.random(in: 0..<5, using: &generator)]
            }
            let expected = Self.changesNothing(listed, runners)
            let matches = Machine.listingMatches(listed, runners)
            if Set(listed).count == listed.count {
                #expect(matches == expected, "listing \(listed) against \(runners.byUUID.mapValues(\.stage))")
            } else {
                // A listing that repeats a name always takes the full update.
                #expect(!matches, "listing \(listed) against \(runners.byUUID.mapValues(\.stage))")
            }
            if matches { matched += 1 }
        }
        #expect(matched > 1000, "the draw exercised listings that change nothing")
    }

    /// Probes `machine` (started at 1 s, finished at 2 s with a listing of `listed`): the actions it returned.
    static func probe(
        _ machine: inout Machine,
        listing listed: [ContainerUUID]
    ) throws -> [Machine.Action] {
        let started = machine.probeStarting(at: Self.t0 + .seconds(1))
        let ticket = try #require(started)
        return machine.probeFinished(
            ticket,
            booted: true,
            run: .listed(RunnerList(running: listed)),
            at: Self.t0 + .seconds(2)
        )
    }

    static func ready(running: [ContainerUUID]) -> Machine {
        Machine(.ready(Machine.Runners(running: running)), idleBehavior: .run, appeared: Self.t0)
    }

    @Test("A listing that names one runner twice and leaves another out still ends the one left out")
    func repeatedNameStillEndsTheMissingRunner() throws {
        let kept = Self.uuids[0]
        let gone = Self.uuids[1]
        var machine = Self.ready(running: [kept, gone])
        let actions = try Self.probe(&machine, listing: [kept, kept])
        #expect(actions.contains(.runnerEnded(gone)))
        #expect(machine.containers == [kept])
    }

    @Test("A listing of exactly the running runners changes nothing but the probe and busy times")
    func unchangedListing() throws {
        let first = Self.uuids[0]
        let second = Self.uuids[1]
        var machine = Self.ready(running: [first, second])
        let before = machine.phase
        let actions = try Self.probe(&machine, listing: [second, first])
        #expect(actions.isEmpty)
        #expect(machine.phase == before)
        #expect(machine.probed == Self.t0 + .seconds(2))
        #expect(machine.busy == Self.t0 + .seconds(2))
    }
}
