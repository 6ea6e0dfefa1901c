import DispatchModel
import DispatchTestSupport
import Scheduler
import Testing

/// Each what-if rule, from the planner's own status and the pool's holds.
@Suite("What-if")
struct WhatIfTests {
    static func entry(vcpus: Int = 1, ram: Int64 = 1 << 30, types: [InstanceType]) -> QueueEntry {
        QueueEntry(
            container: container(1, priority: 1, vcpus: vcpus, ram: ram),
            instanceTypes: types,
            resources: InstanceResources(vcpus: vcpus, ram: ByteSize(ram), scratch: .zero, gpus: 0, gpuVRAM: .zero),
            firstSeenAt: testNow
        )
    }

    @Test("Too big for every type: names the resource and the largest type's figure")
    func tooBig() throws {
        let menu = [instanceType(1), instanceType(4)]
        let whatIf = try #require(
            WhatIf.evaluate(
                entry: Self.entry(ram: 96 << 30, types: []),
                status: nil,
                context: .init(menu: menu, pool: PoolSnapshot())
            )
        )
        #expect(whatIf.reason == "needs \(ByteSize(96 << 30)) RAM; the largest type offers \(instanceType(4).ram)")
        #expect(whatIf.change == "an instance type with at least \(ByteSize(96 << 30)) RAM")
        let cpus = try #require(
            WhatIf.evaluate(
                entry: Self.entry(vcpus: 16, types: []),
                status: nil,
                context: .init(menu: menu, pool: PoolSnapshot())
            )
        )
        #expect(cpus.reason == "needs 16 VCPUs; the largest type offers 4")
    }

    @Test("Behind MaxInstances: the limit at which it would start now")
    func maxInstances() throws {
        let whatIf = try #require(
            WhatIf.evaluate(
                entry: Self.entry(types: [instanceType(1)]),
                status: .waitingForMaxInstances(position: 12, limit: 64),
                context: .init(menu: [instanceType(1)], pool: PoolSnapshot())
            )
        )
        #expect(whatIf.reason == "position 12; MaxInstances 64 reached")
        #expect(whatIf.change == "at 76 it would start now")
    }

    @Test("At the provider's quota: the quota that would start it")
    func quota() throws {
        let pool = PoolSnapshot(
            instances: (1...5).map {
                InstanceSnapshot(id: InstanceID(rawValue: "i-\($0)"), type: instanceType(1), state: .running)
            },
            atQuota: true,
            quotaHeld: true
        )
        let whatIf = try #require(
            WhatIf.evaluate(
                entry: Self.entry(types: [instanceType(1)]),
                status: .waitingForCloudResources(position: 2),
                context: .init(menu: [instanceType(1)], pool: pool)
            )
        )
        #expect(whatIf.reason == "position 2; the cloud account's quota holds creates at 5 instances")
        #expect(whatIf.change == "a quota of 7 instances would start it now")
    }

    @Test("Spot capacity held: until when, and what on-demand would cost more")
    func spotCapacity() throws {
        let onDemand = instanceType(2)
        var spot = Fixtures.instanceType(2, preemptible: true)
        spot.name = "type2.spot"
        spot.price = 0.1
        let pool = PoolSnapshot(capacityHolds: [.instanceType(providerType: spot.providerType, preemptible: true)])
        let until = Timestamp(secondsSince1970: 1_800_000_300)
        let whatIf = try #require(
            WhatIf.evaluate(
                entry: Self.entry(types: [spot]),
                status: .waitingForInstanceType(position: 1, eligible: [spot.name]),
                context: .init(menu: [spot, onDemand], pool: pool, capacityHeldUntil: [spot.name: until])
            )
        )
        #expect(whatIf.reason == "position 1; spot capacity held for type2.spot until \(until.rfc3339)")
        // 0.246 - 0.1 = 0.146, rounded to cents.
        #expect(whatIf.change == "on-demand (type2) would start now at $0.15/h more")
    }

    @Test("Capacity held and nothing else fits: it waits for capacity")
    func capacityNoAlternative() throws {
        let pool = PoolSnapshot(capacityHolds: [.all])
        let whatIf = try #require(
            WhatIf.evaluate(
                entry: Self.entry(types: [instanceType(1)]),
                status: .waitingForInstanceType(position: 3, eligible: [instanceType(1).name]),
                context: .init(menu: [instanceType(1)], pool: pool)
            )
        )
        #expect(whatIf.change == "it starts when the cloud has capacity again")
    }

    @Test("Quarantined eligible types are named, with the type used meanwhile")
    func quarantine() throws {
        let until = Timestamp(secondsSince1970: 1_800_000_600)
        let whatIf = try #require(
            WhatIf.evaluate(
                entry: Self.entry(types: [instanceType(1), instanceType(2)]),
                status: .waitingForNewInstance(instanceType(2).name),
                context: .init(
                    menu: [instanceType(1), instanceType(2)],
                    pool: PoolSnapshot(),
                    quarantinedUntil: [instanceType(1).name: until]
                )
            )
        )
        #expect(
            whatIf.reason.contains(
                "quarantined after failed boots: type1 until \(until.rfc3339); using type2 meanwhile"
            )
        )
        #expect(whatIf.change == "it starts once that instance passes its boot probe")
    }

    @Test("A started container has no what-if")
    func notWaiting() {
        #expect(
            WhatIf.evaluate(
                entry: Self.entry(types: [instanceType(1)]),
                status: .preparingRuntimeEnvironment,
                context: .init(menu: [instanceType(1)], pool: PoolSnapshot())
            ) == nil
        )
    }
}
