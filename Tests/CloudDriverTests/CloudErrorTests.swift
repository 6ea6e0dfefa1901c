import CloudDriver
import DispatchModel
import DispatchTestSupport
import Testing

@Suite("Cloud errors")
struct CloudErrorTests {
    @Test("Each constructor sets its own code and only its own details")
    func constructors() {
        let quota = CloudError.quotaExceeded("at quota")
        #expect(quota.code == .quotaExceeded && quota.capacityScope == nil && quota.retryAfter == nil)

        let capacity = CloudError.insufficientCapacity(.all, "no capacity")
        #expect(capacity.code == .insufficientCapacity && capacity.capacityScope == .all)

        let limited = CloudError.rateLimited(retryAfter: .seconds(7), "slow down")
        #expect(limited.code == .rateLimited && limited.retryAfter == .seconds(7))

        #expect(CloudError.notFound("gone").code == .notFound)
        #expect(CloudError.other("boom").code == .other)
        let codes: Set<CloudError.Code> = [.quotaExceeded, .insufficientCapacity, .rateLimited, .notFound, .other]
        #expect(codes.count == 5)
    }

    @Test("The description names the code, the message, the scope and the delay")
    func description() {
        let error = CloudError.rateLimited(retryAfter: .seconds(3), "throttled")
        #expect(error.description == "CloudError.rateLimited: throttled (retry after 3.0 seconds)")
        let capacity = CloudError.insufficientCapacity(.quotaGroup("m"), "none left")
        #expect(capacity.description == "CloudError.insufficientCapacity: none left (quota group m)")
    }

    @Test(
        "A capacity scope covers its type, its quota group, or everything",
        arguments: [
            (CloudError.CapacityScope.instanceType(Fixtures.instanceType(1)), Fixtures.instanceType(1), true),
            (.instanceType(Fixtures.instanceType(1)), Fixtures.instanceType(1, preemptible: true), false),
            (.instanceType(Fixtures.instanceType(1)), Fixtures.instanceType(2), false),
            (.quotaGroup("p"), Fixtures.instanceType(2), true),
            (.quotaGroup("q"), Fixtures.instanceType(2), false),
            (.all, Fixtures.instanceType(3, preemptible: true), true),
        ]
    )
    func covers(scope: CloudError.CapacityScope, type: InstanceType, expected: Bool) {
        #expect(scope.covers(type, quotaGroup: "p") == expected)
    }

    @Test(
        "A capacity scope's hold key is Arvados's",
        arguments: [
            (CloudError.CapacityScope.instanceType(providerType: "m5.large", preemptible: false), "m5.large"),
            (.instanceType(providerType: "m5.large", preemptible: true), "m5.large-preemptible"),
            (.quotaGroup("standard"), "standard"),
            (.all, ""),
        ]
    )
    func holdKey(scope: CloudError.CapacityScope, expected: String) {
        #expect(scope.holdKey == expected)
    }
}
