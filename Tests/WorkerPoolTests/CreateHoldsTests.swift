import CloudDriver
import DispatchModel
import DispatchTestSupport
import Testing

@testable import WorkerPool

@Suite("Create holds")
struct CreateHoldsTests {
    typealias Holds = CreateHolds<ManualClock.Instant>
    static func at(_ seconds: Int) -> ManualClock.Instant { .init(offset: .seconds(seconds)) }

    static let a1 = InstanceType(name: "a1", providerType: "a1", vcpus: 1, ram: .zero, price: 1)
    static let a2 = InstanceType(name: "a2", providerType: "a2", vcpus: 2, ram: .zero, price: 2)
    static let a1p = InstanceType(name: "a1p", providerType: "a1", vcpus: 1, ram: .zero, price: 1, preemptible: true)
    static let b4p = InstanceType(name: "b4p", providerType: "b4", vcpus: 4, ram: .zero, price: 4, preemptible: true)
    static func group(_ type: InstanceType) -> InstanceQuotaGroup {
        InstanceQuotaGroup(rawValue: String(type.providerType.prefix(1)) + (type.preemptible ? "-p" : ""))
    }

    @Test("A quota error with no other instance holds creates for one minute")
    func quotaAlone() {
        var holds = Holds()
        let expiry = holds.createFailed(.quotaExceeded("quota"), otherInstances: 0, at: Self.at(10))
        #expect(expiry == Self.at(70))
        #expect(holds.atQuota(instanceCount: 0, maxInstances: 0, at: Self.at(69)))
        #expect(!holds.atQuota(instanceCount: 0, maxInstances: 0, at: Self.at(70)))
    }

    @Test("A quota error with other instances holds creates until there are fewer")
    func quotaUntilFewer() {
        var holds = Holds()
        #expect(holds.createFailed(.quotaExceeded("quota"), otherInstances: 3, at: Self.at(0)) == nil)
        #expect(holds.atQuota(instanceCount: 3, maxInstances: 0, at: Self.at(3600)))
        let liftedAtThree = holds.instancesCounted(3)
        #expect(!liftedAtThree)
        #expect(holds.atQuota(instanceCount: 3, maxInstances: 0, at: Self.at(3600)))
        let liftedAtTwo = holds.instancesCounted(2)
        #expect(liftedAtTwo)
        #expect(!holds.atQuota(instanceCount: 2, maxInstances: 0, at: Self.at(3600)))
    }

    @Test(
        "MaxInstances counts instances and creates in flight",
        arguments: [(3, 4, false), (4, 4, true), (9, 0, false)]
    )
    func maxInstances(count: Int, max: Int, atQuota: Bool) {
        #expect(Holds().atQuota(instanceCount: count, maxInstances: max, at: Self.at(0)) == atQuota)
    }

    struct CapacityCase: Sendable, CustomTestStringConvertible {
        var scope: CloudError.CapacityScope
        var held: [String]
        var testDescription: String { "\(self.scope)" }
    }

    @Test(
        "A capacity error holds its type, quota group or every type for one minute",
        arguments: [
            CapacityCase(scope: .quotaGroup("a"), held: ["a1", "a2"]),
            CapacityCase(scope: .instanceType(Self.b4p), held: ["b4p"]),
            CapacityCase(scope: .instanceType(Self.a1), held: ["a1"]),
            CapacityCase(scope: .all, held: ["a1", "a2", "a1p", "b4p"]),
        ]
    )
    func capacity(_ row: CapacityCase) {
        var holds = Holds()
        let expiry = holds.createFailed(.insufficientCapacity(row.scope, "none"), otherInstances: 5, at: Self.at(0))
        #expect(expiry == Self.at(60))
        for type in [Self.a1, Self.a2, Self.a1p, Self.b4p] {
            let held = holds.atCapacity(type, quotaGroup: Self.group(type), at: Self.at(59))
            #expect(held == row.held.contains(type.name.rawValue), "\(type.name)")
            #expect(!holds.atCapacity(type, quotaGroup: Self.group(type), at: Self.at(60)))
        }
        #expect(!holds.atQuota(instanceCount: 5, maxInstances: 0, at: Self.at(1)))
    }

    @Test("A rate-limit error throttles creates (or lists) until the retry-after instant")
    func rateLimit() {
        var holds = Holds()
        let error = CloudError.rateLimited(retryAfter: .seconds(7), "slow down")
        #expect(holds.createFailed(error, otherInstances: 0, at: Self.at(1)) == Self.at(8))
        #expect(holds.createThrottled(at: Self.at(7)))
        #expect(!holds.createThrottled(at: Self.at(8)))
        #expect(!holds.listThrottled(at: Self.at(7)))
        #expect(holds.listFailed(error, at: Self.at(10)) == Self.at(17))
        #expect(holds.listThrottled(at: Self.at(16)))
        #expect(!holds.listThrottled(at: Self.at(17)))
        #expect(holds.listFailed(.other("boom"), at: Self.at(20)) == nil)
    }

    @Test("Too many creates in flight pause creates for five seconds")
    func tooManyCreates() {
        var holds = Holds()
        #expect(holds.tooManyCreates(at: Self.at(2)) == Self.at(7))
        #expect(holds.createThrottled(at: Self.at(6)))
        #expect(!holds.createThrottled(at: Self.at(7)))
    }
}
