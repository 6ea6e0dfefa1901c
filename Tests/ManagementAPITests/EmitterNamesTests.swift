import CloudDriver
import CloudDriverSimulated
import DispatchTestSupport
import Logging
import ManagementAPI
import Scheduler
import Testing

/// The code that emits metrics uses §5.4's names: checked against the real emitters, not copies of their names.
@Suite("Emitter names")
struct EmitterNamesTests {
    static let expectedNames = Set(MetricsExpositionTests.expected.map(\.fullName))

    @Test("The scheduler's gauges are named as in §5.4")
    func scheduler() {
        #expect(Set(SchedulerMetrics.names).isSubset(of: Self.expectedNames), "\(SchedulerMetrics.names)")
        #expect(SchedulerMetrics.names.count == 12)
    }

    @Test("The driver decorator's counters come out as §5.4's driver_operations, pre-made at zero")
    func driverOperations() async throws {
        let registry = MetricsRegistry(version: "test")
        let cloud = SimulatedCloud(
            parameters: SimulatedCloudParameters(),
            clock: ManualClock(),
            logger: Logger(label: "test")
        )
        let instrumented = InstrumentedInstanceSet(cloud, metricsFactory: registry.factory)
        _ = try await instrumented.instances(tagged: [:])
        let exposition = Exposition(registry.render())
        let name = "arvados_dispatchcloud_driver_operations"
        #expect(exposition.types[name] == "counter")
        #expect(exposition.value(name, ["operation": "List", "error": "0"]) == 1)
        for operation in ["Create", "List", "Destroy", "SetTags"] {
            #expect(exposition.value(name, ["operation": operation, "error": "1"]) == 0)
        }
        #expect(exposition.samples.filter { $0.name == name }.count == 8)
    }
}
