import DispatchConfig
import DispatchSimulation
import Foundation
import Testing

/// The whole dispatcher on the virtual clock (the simulated cloud, the in-memory container API, the real queue,
/// scheduler and pool), with spot instances preempted under running containers: within `PreemptionBudget` a
/// preempted container is requeued and runs again, and once the budget is spent it falls back to on-demand.
@Suite("Preemption handling in simulation")
struct PreemptionSimulationTests {
    /// One on-demand type and its spot variant (same provider type, as on EC2), spot preempted in half its runs.
    static func config(budget: Int, extraDriverParameters: String = "") throws -> ClusterConfig {
        let yaml = """
            Clusters:
              z1234:
                SystemRootToken: simulation-root-token-for-tests
                Services:
                  Controller:
                    ExternalURL: https://127.0.0.1:9005
                Containers:
                  MaxDispatchAttempts: 3
                  CloudVMs:
                    Driver: simulated
                    DriverParameters:
                      BootTime: {Min: 30s, Max: 60s}
                      ShutdownTime: {Min: 5s, Max: 10s}
                      Preemptions: {p1: 0.5}
                      \(extraDriverParameters)
                    MaxInstances: 20
                    PollInterval: 10s
                    ProbeInterval: 10s
                    SyncInterval: 30s
                    TimeoutIdle: 1m
                    TimeoutBooting: 10m
                    TimeoutShutdown: 10s
                InstanceTypes:
                  small:      {ProviderType: p1, VCPUs: 2, RAM: 8GiB, IncludedScratch: 32GiB, Price: 0.10}
                  small.spot: {ProviderType: p1, Preemptible: true, VCPUs: 2, RAM: 8GiB, IncludedScratch: 32GiB, Price: 0.03}
                DispatchCloud:
                  PreemptionBudget: \(budget)
            """
        return try ClusterConfig.load(yaml: yaml, sourceName: "preemption.yml").config
    }

    /// 12 spot containers of 20 minutes each, a minute apart.
    static func workload() -> Workload {
        Workload(
            entries: (0..<12).map { i in
                Workload.Entry(
                    submit: .seconds(i * 60),
                    vcpus: 1,
                    ram: 2 << 30,
                    preemptible: true,
                    runTime: .seconds(1200)
                )
            }
        )
    }

    @Test("Within the preemption budget, preempted containers are requeued and every one completes")
    func requeuedAndComplete() async throws {
        let result = try await Simulator(config: try Self.config(budget: 3), configurationName: "budget", seed: 11)
            .run(Self.workload())
        #expect(result.containers.submitted == 12)
        #expect(result.containers.cancelled == 0, "a preempted container is requeued, not cancelled")
        #expect(result.containers.complete == 12)
        #expect(result.containers.unfinished == 0)
        // Only a container preempted three times falls back to on-demand: some were.
        #expect((result.byType["small"]?.instances ?? 0) > 0, "\(result.byType)")
    }

    @Test("Without a budget (the default), a preempted container is cancelled, as in Arvados")
    func cancelledWithoutBudget() async throws {
        let result = try await Simulator(config: try Self.config(budget: 0), configurationName: "none", seed: 11)
            .run(Self.workload())
        #expect(result.containers.submitted == 12)
        #expect(result.containers.cancelled > 0)
        #expect(result.byType["small"] == nil, "no fallback to on-demand: \(result.byType)")
    }
}
