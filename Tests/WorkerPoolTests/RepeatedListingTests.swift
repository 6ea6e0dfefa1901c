import CloudDriverSimulated
import DispatchModel
import Testing

@testable import WorkerPool

/// A probe that repeats the worker's last listing byte for byte is applied without comparing it with the runners
/// (``WorkerStateMachine/probeFinished(_:booted:repeating:at:)``): the worker must end up exactly as the full
/// comparison would leave it.
@Suite("Repeated listings")
struct RepeatedListingTests {
    static let uuids: [ContainerUUID] = (1...3).map { ContainerUUID(rawValue: "zzzzz-dz642-00000000000000\($0)") }

    /// What two machines should agree on.
    struct Observed: Equatable {
        var phase: Machine.Phase
        var idleBehavior: IdleBehavior
        var probed: ContinuousClock.Instant
        var busy: ContinuousClock.Instant
        var updated: ContinuousClock.Instant
        var lastUUID: ContainerUUID?
        var staleRunLockSince: ContinuousClock.Instant?
        var probing: Bool

        init(_ machine: Machine) {
            self.phase = machine.phase
            self.idleBehavior = machine.idleBehavior
            self.probed = machine.probed
            self.busy = machine.busy
            self.updated = machine.updated
            self.lastUUID = machine.lastUUID
            self.staleRunLockSince = machine.staleRunLockSince
            self.probing = machine.probing
        }
    }

    @Test("Random walks of probes, starts, kills and ends: told or not that a listing repeats, a worker ends the same")
    func randomWalks() {
        var random = SeededRandomNumberGenerator(seed: 11)
        var fastPaths = 0
        for walk in 0..<200 {
            let t0 = ContinuousClock.now
            var told = Machine(.booting, idleBehavior: .run, appeared: t0)
            var plain = told
            // The last listing a probe gave, as the pool keeps it (failed probes leave it).
            var lastListing: RunnerList?
            var pending: Machine.ProbeTicket?
            for step in 1...60 {
                let now = t0 + .seconds(step * 7)
                let uuid = Self.uuids[Int(random.next() % 3)]
                var toldActions: [Machine.Action] = []
                var plainActions: [Machine.Action] = []
                switch random.next() % 10 {
                case 0...5:
                    // A probe: started now (or earlier, so a change may come between), finished now.
                    let ticket = pending ?? told.probeStarting(at: now)
                    _ = pending == nil ? plain.probeStarting(at: now) : nil
                    pending = nil
                    guard let ticket else { continue }
                    if random.next() % 5 == 0 {
                        // Left in flight while something else happens.
                        pending = ticket
                        continue
                    }
                    let run: Machine.RunProbeOutcome
                    var same = false
                    switch random.next() % 8 {
                    case 0: run = .failed
                    case 1...4 where lastListing != nil:
                        run = .listed(lastListing!)
                        same = true
                    default:
                        var list = RunnerList(running: Self.uuids.filter { _ in random.next() % 2 == 0 })
                        if random.next() % 10 == 0 { list.stale = [Self.uuids[0]] }
                        lastListing = list
                        run = .listed(list)
                        same = false
                    }
                    if same, let applied = told.listingAppliedAt, applied == told.visibleChanges { fastPaths += 1 }
                    if same, let last = lastListing {
                        toldActions = told.probeFinished(ticket, booted: true, repeating: { last }, at: now)
                    } else {
                        toldActions = told.probeFinished(ticket, booted: true, run: run, at: now)
                    }
                    plainActions = plain.probeFinished(ticket, booted: true, run: run, at: now)
                case 6:
                    toldActions = told.startContainer(uuid, at: now) ?? []
                    plainActions = plain.startContainer(uuid, at: now) ?? []
                    if random.next() % 2 == 0 {
                        told.runnerStarted(uuid, at: now)
                        plain.runnerStarted(uuid, at: now)
                    }
                case 7:
                    toldActions = told.killContainer(uuid, reason: "test", at: now)
                    plainActions = plain.killContainer(uuid, reason: "test", at: now)
                case 8:
                    toldActions = told.runnerFinished(uuid, at: now)
                    plainActions = plain.runnerFinished(uuid, at: now)
                default:
                    let behavior: IdleBehavior = random.next() % 2 == 0 ? .run : .hold
                    toldActions = told.setIdleBehavior(behavior, at: now)
                    plainActions = plain.setIdleBehavior(behavior, at: now)
                }
                #expect(toldActions == plainActions, "walk \(walk) step \(step)")
                #expect(Observed(told) == Observed(plain), "walk \(walk) step \(step)")
            }
        }
        // The walks take the fast path often, not only its fallbacks.
        #expect(fastPaths > 1000, "\(fastPaths) repeated listings applied without comparing")
    }
}
