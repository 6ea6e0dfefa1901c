import CloudDriver
import CloudDriverSimulated
import DispatchModel
import DispatchTestSupport
import Foundation
import RemoteExecution
import Testing

@Suite("Simulated cloud at scale")
struct SimulatedCloudScaleTests {
    /// A chaotic scenario driven step by step on a manual clock; returns every event.
    static func scenario(seed: UInt64) async throws -> [SimulatedCloudEvent] {
        let clock = ManualClock()
        let cloud = try Sim.cloud(
            """
            {"Seed": \(seed), "BootTime": {"Min": "10s", "Max": "60s"}, "ErrorRates": {"Create": 0.3, "List": 0.2},
             "RunTime": {"Min": "1m", "Max": "10m"}, "ExitCodes": {"0": 0.7, "1": 0.2, "137": 0.1},
             "RunnerCrashRate": 0.2, "StaleLockRate": 0.2, "CapacityErrors": {"providertype2": 0.5}}
            """,
            clock: clock
        )
        var instances: [SimulatedInstance<ManualClock, SeededRandomNumberGenerator>] = []
        for i in 0..<20 {
            if let instance = try? await Sim.create(cloud, type: i.isMultiple(of: 2) ? Sim.type1 : Sim.type2) {
                instances.append(instance)
            }
        }
        clock.advance(by: .seconds(60))
        for (i, instance) in instances.enumerated() {
            for j in 0..<2 {
                let uuid = String(format: "zzzzz-dz642-%015d", i * 10 + j)
                _ = try await instance.run("crunch-run --detach --stdin-config '\(uuid)'", stdin: Sim.config)
            }
        }
        for _ in 0..<12 {
            clock.advance(by: .seconds(60))
            _ = try? await cloud.instances(tagged: [:])
        }
        return await drain(cloud)
    }

    @Test("Two runs with the same seed give the same events; another seed gives others")
    func determinism() async throws {
        let first = try await Self.scenario(seed: 42)
        let second = try await Self.scenario(seed: 42)
        #expect(first.count > 40)
        #expect(first == second)
        #expect(try await Self.scenario(seed: 43) != first)
    }

    @Test("Ten thousand instances are created and listed in one process")
    func tenThousand() async throws {
        let cloud = try Sim.cloud()
        let start = ContinuousClock.now
        for i in 0..<10_000 {
            _ = try await Sim.create(cloud, tags: ["InstanceSetID": "test", "n": "\(i)"])
        }
        let listed = try await cloud.instances(tagged: ["InstanceSetID": "test"])
        let elapsed = ContinuousClock.now - start
        #expect(listed.count == 10_000)
        #expect(Set(listed.map(\.id)).count == 10_000)
        let instance = try #require(listed.last)
        #expect(try await instance.run("crunch-run --list").exitStatus == 0)
        print("10,000 simulated instances: created and listed in \(elapsed); resident memory \(Self.residentMemory())")
        await cloud.stop()
    }

    /// The process's resident set size, from `/proc/self/status`.
    static func residentMemory() -> String {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return "unknown" }
        return line.dropFirst("VmRSS:".count).trimmingCharacters(in: .whitespaces)
    }
}
