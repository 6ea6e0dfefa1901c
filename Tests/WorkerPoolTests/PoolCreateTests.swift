import CloudDriver
import CloudDriverSimulated
import DispatchModel
import DispatchTestSupport
import Testing

@testable import WorkerPool

/// Creates and their holds, over the simulated cloud (Arvados's `TestCreateUnallocShutdown`,
/// `TestNodeCreateThrottle`, the quota, capacity and rate-limit handling of reference §3.6).
@Suite("Worker pool creates")
struct PoolCreateTests {
    static let type1 = Fixtures.instanceType(1)
    static let type2 = Fixtures.instanceType(2)
    static let type3 = Fixtures.instanceType(3)

    @Test("Pending creates count as unallocated and show in the instance list; held workers are not shut down")
    func createUnallocShutdown() async throws {
        let harness = PoolHarness.start(configuration: PoolHarness.configuration(types: [Self.type1, Self.type2]))
        await harness.cloud.holdCloudOperations()
        let changes = await harness.pool.subscribe()
        #expect(await harness.pool.create(Self.type1))
        #expect(await harness.pool.create(Self.type1))
        #expect(await harness.pool.create(Self.type2))
        var iterator = changes.makeAsyncIterator()
        let notified: Void? = await iterator.next()
        #expect(notified != nil)
        #expect(await harness.pool.unallocated() == [Self.type1.name: 2, Self.type2.name: 1])
        let pending = await harness.pool.instances()
        #expect(pending.count == 3)
        #expect(pending.allSatisfy { $0.instance == nil && $0.workerState == .booting && $0.idleBehavior == .run })

        await harness.cloud.waitForHeldOperations(3)
        await harness.cloud.releaseCloudOperations(Int.max)
        await harness.eventually(3, in: .booting)
        #expect(await harness.pool.unallocated() == [Self.type1.name: 2, Self.type2.name: 1])

        let type2ID = try #require(await harness.pool.instances().first { $0.instanceType == Self.type2 }?.instance)
        try await harness.pool.setIdleBehavior(type2ID, .hold)
        #expect(await harness.pool.unallocated() == [Self.type1.name: 2])
        #expect(await !harness.pool.shutdown(Self.type2.name))
        #expect(await harness.pool.shutdown(Self.type1.name))
        #expect(await harness.pool.shutdown(Self.type1.name))
        #expect(await !harness.pool.shutdown(Self.type1.name))
        #expect(harness.metrics.counterValue(PoolMetrics.Name.bootOutcomes, ["outcome": "aborted"]) == 2)
        await harness.waitForCloud(instances: 1)
        harness.advanceSync()
        await harness.eventually("the shut-down workers are gone") { await $0.instances().count == 1 }

        // Draining a booting worker shuts it down at once.
        try await harness.pool.setIdleBehavior(type2ID, .drain)
        #expect(await harness.pool.instances().first?.workerState == .shutdown)
        await harness.stop()
    }

    @Test("MaxConcurrentInstanceCreateOps limits creates in flight", arguments: [1, 2, 0])
    func createThrottle(limit: Int) async throws {
        var configuration = PoolHarness.configuration(types: [Self.type1])
        configuration.maxConcurrentInstanceCreateOps = limit
        let harness = PoolHarness.start(configuration: configuration)
        await harness.cloud.holdCloudOperations()
        let allowed = limit == 0 ? 4 : limit
        for _ in 0..<allowed { #expect(await harness.pool.create(Self.type1)) }
        if limit > 0 {
            #expect(await !harness.pool.create(Self.type1))
            // The pause lasts five seconds even after the creates finish.
            await harness.cloud.releaseCloudOperations(Int.max)
            await harness.eventually(allowed, in: .booting)
            #expect(await !harness.pool.create(Self.type1))
            let changes = await harness.pool.subscribe()
            harness.clock.advance(by: .seconds(5))
            var iterator = changes.makeAsyncIterator()
            _ = await iterator.next()
            #expect(await harness.pool.create(Self.type1))
        }
        await harness.cloud.releaseCloudOperations(Int.max)
        await harness.stop()
    }

    @Test("The create backlog starts one create as each in flight finishes, and is dropped at a quota error")
    func createBacklog() async throws {
        var configuration = PoolHarness.configuration(types: [Self.type1])
        configuration.maxConcurrentInstanceCreateOps = 1
        var parameters = PoolHarness.parameters()
        parameters.maxInstances = 3  // the provider's quota: the fourth create fails
        let harness = PoolHarness.start(configuration: configuration, parameters: parameters)
        await harness.cloud.holdCloudOperations()
        await harness.pool.replaceCreateBacklog(Array(repeating: Self.type1, count: 5))
        // One create in flight, the rest waiting in the backlog: no 5-second pause, no refused create.
        await harness.cloud.waitForHeldOperations(1)
        #expect(await harness.pool.instances().count == 1)
        #expect(await harness.pool.createBacklog.count == 4)
        // As it finishes, the next starts, with no scheduler asking.
        await harness.cloud.releaseCloudOperations(1)
        await harness.cloud.waitForHeldOperations(1)
        #expect(await harness.pool.instances().count == 2)
        #expect(await harness.pool.createBacklog.count == 3)
        await harness.cloud.releaseCloudOperations(Int.max)
        await harness.eventually(3, in: .booting)
        await harness.eventually("the quota error holds creates") { await $0.atQuota() }
        // The fourth create met the quota; the fifth was dropped rather than tried.
        #expect(await harness.pool.createBacklog.isEmpty)
        #expect(await harness.pool.instances().count == 3)
        await harness.stop()
    }

    @Test("A new backlog replaces the old one")
    func createBacklogReplaced() async throws {
        var configuration = PoolHarness.configuration(types: [Self.type1, Self.type2])
        configuration.maxConcurrentInstanceCreateOps = 1
        let harness = PoolHarness.start(configuration: configuration)
        await harness.cloud.holdCloudOperations()
        await harness.pool.replaceCreateBacklog([Self.type1, Self.type1, Self.type1])
        await harness.cloud.waitForHeldOperations(1)
        await harness.pool.replaceCreateBacklog([Self.type2])
        // Still one in flight (type1); the replacement waits for it.
        #expect(await harness.pool.instances().count == 1)
        await harness.cloud.releaseCloudOperations(Int.max)
        await harness.eventually(2, in: .booting)
        let types = await harness.pool.instances().map(\.instanceType.name).sorted { $0.rawValue < $1.rawValue }
        #expect(types == [Self.type1.name, Self.type2.name])
        #expect(await harness.pool.createBacklog.isEmpty)
        await harness.stop()
    }

    @Test("A quota error holds creates until an instance is gone")
    func quotaUntilFewer() async throws {
        var parameters = PoolHarness.parameters()
        parameters.maxInstances = 2
        let harness = PoolHarness.start(
            configuration: PoolHarness.configuration(types: [Self.type1]),
            parameters: parameters
        )
        #expect(await harness.pool.create(Self.type1))
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(2, in: .booting)
        #expect(await !harness.pool.atQuota())
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually("the quota error holds creates") { await $0.atQuota() }
        #expect(await !harness.pool.create(Self.type1))
        harness.clock.advance(by: .seconds(3600))
        #expect(await harness.pool.atQuota())

        let id = try #require(await harness.pool.instances().first?.instance)
        try await harness.pool.killInstance(id, reason: "test")
        await harness.waitForCloud(instances: 1)
        harness.advanceSync()
        await harness.eventually("fewer instances lift the hold") { await !$0.atQuota() }
        #expect(await harness.pool.create(Self.type1))
        await harness.stop()
    }

    @Test("A quota error with no instance of ours holds creates for one minute")
    func quotaForOneMinute() async throws {
        var parameters = PoolHarness.parameters()
        parameters.maxInstances = 1
        let harness = PoolHarness.start(
            configuration: PoolHarness.configuration(types: [Self.type1]),
            parameters: parameters
        )
        // Another dispatcher's instance uses up the quota.
        _ = try await harness.cloud.create(
            type: Self.type1,
            imageID: "",
            tags: ["ArvadosInstanceSetID": "someone-else"],
            initCommand: "",
            publicKey: nil
        )
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually("the quota error holds creates") { await $0.atQuota() }
        harness.clock.advance(by: .seconds(59))
        #expect(await harness.pool.atQuota())
        let changes = await harness.pool.subscribe()
        harness.clock.advance(by: .seconds(1))
        var iterator = changes.makeAsyncIterator()
        _ = await iterator.next()
        #expect(await !harness.pool.atQuota())
        await harness.stop()
    }

    @Test("MaxInstances counts workers and pending creates")
    func maxInstances() async throws {
        var configuration = PoolHarness.configuration(types: [Self.type1])
        configuration.maxInstances = 2
        let harness = PoolHarness.start(configuration: configuration)
        #expect(await harness.pool.create(Self.type1))
        #expect(await harness.pool.create(Self.type1))
        #expect(await harness.pool.atQuota())
        #expect(await !harness.pool.create(Self.type1))
        await harness.stop()
    }

    @Test("A capacity error holds creates of that type only, for one minute")
    func capacity() async throws {
        var parameters = PoolHarness.parameters()
        parameters.capacityErrors = [Self.type2.providerType: 1]
        let harness = PoolHarness.start(
            configuration: PoolHarness.configuration(types: [Self.type1, Self.type2]),
            parameters: parameters
        )
        #expect(await harness.pool.create(Self.type2))
        await harness.eventually("the capacity error holds type2") { await $0.atCapacity(Self.type2) }
        #expect(await !harness.pool.atCapacity(Self.type1))
        #expect(await !harness.pool.atQuota())
        #expect(await !harness.pool.create(Self.type2))
        #expect(await harness.pool.create(Self.type1))
        let changes = await harness.pool.subscribe()
        harness.clock.advance(by: .seconds(60))
        var iterator = changes.makeAsyncIterator()
        _ = await iterator.next()
        #expect(await !harness.pool.atCapacity(Self.type2))
        await harness.stop()
    }

    @Test("A rate-limit error pauses creates until its retry-after instant")
    func rateLimit() async throws {
        var parameters = PoolHarness.parameters()
        parameters.minTimeBetweenCalls = ["Create": .seconds(10)]
        let harness = PoolHarness.start(
            configuration: PoolHarness.configuration(types: [Self.type1]),
            parameters: parameters
        )
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually(1, in: .booting)
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually("the second create failed") { await $0.instances().count == 1 }
        #expect(await !harness.pool.create(Self.type1))
        harness.clock.advance(by: .seconds(9))
        #expect(await !harness.pool.create(Self.type1))
        harness.clock.advance(by: .seconds(1))
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually("the third create succeeded") {
            await $0.instances().filter { $0.instance != nil }.count == 2
        }
        await harness.stop()
    }

    static let a1 = InstanceType(name: "a1", providerType: "a1", vcpus: 1, ram: .zero, price: 1)
    static let a2 = InstanceType(name: "a2", providerType: "a2", vcpus: 2, ram: .zero, price: 2)
    static let a1p = InstanceType(name: "a1p", providerType: "a1", vcpus: 1, ram: .zero, price: 1, preemptible: true)
    static let b4p = InstanceType(name: "b4p", providerType: "b4", vcpus: 4, ram: .zero, price: 4, preemptible: true)

    @Test("A quota-group capacity error holds its family; a type capacity error holds only that type")
    func instanceQuotaGroup() async throws {
        let types = [Self.a1, Self.a2, Self.a1p, Self.b4p]
        let harness = PoolHarness.start(configuration: PoolHarness.configuration(types: types))
        harness.instanceSet.failNextCreates([
            .insufficientCapacity(.quotaGroup("a"), "no capacity in family a"),
            .insufficientCapacity(.instanceType(Self.b4p), "no capacity for b4 spot"),
        ])
        #expect(await harness.pool.create(Self.a1))
        await harness.eventually("family a is held") { await $0.atCapacity(Self.a1) }
        #expect(await harness.pool.atCapacity(Self.a2))
        #expect(await !harness.pool.atCapacity(Self.a1p))
        #expect(await !harness.pool.atCapacity(Self.b4p))
        #expect(await !harness.pool.create(Self.a2))

        #expect(await harness.pool.create(Self.b4p))
        await harness.eventually("b4p is held") { await $0.atCapacity(Self.b4p) }
        #expect(await !harness.pool.atCapacity(Self.a1p))
        #expect(await harness.pool.create(Self.a1p))
        await harness.stop()
    }

    @Test("A quota error when no instance of ours exists holds creates for one minute, then notifies")
    func scriptedQuotaForOneMinute() async throws {
        let harness = PoolHarness.start(configuration: PoolHarness.configuration(types: [Self.type1]))
        harness.instanceSet.failNextCreates([.quotaExceeded("no quota")])
        #expect(await harness.pool.create(Self.type1))
        await harness.eventually("the quota error holds creates") { await $0.atQuota() }
        await harness.eventually("the create is no longer pending") { await $0.instances().isEmpty }
        let changes = await harness.pool.subscribe()
        var iterator = changes.makeAsyncIterator()
        harness.clock.advance(by: .seconds(60))
        let notified: Void? = await iterator.next()
        #expect(notified != nil)
        #expect(await !harness.pool.atQuota())
        #expect(await harness.pool.create(Self.type1))
        await harness.stop()
    }
}
