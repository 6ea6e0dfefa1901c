public import CloudDriver
import CloudDriverSimulated

extension Driver {
    /// The `simulated` driver: a ``SimulatedCloud`` on the real clock, configured by
    /// ``SimulatedCloudParameters``, whose runners are played against the container API by a
    /// ``SimulatedRunnerBridge`` (so containers go Running and Complete as on a cloud with real runners).
    ///
    /// Its instances run commands in memory (no SSH, no key, nothing dialled). The product's `run` reports
    /// container ends as they come due and plays the runners; runs always keep a
    /// real runner's order with the API (`WaitsForRunnerUpdates` is on whatever the parameters say).
    public static let simulated = Driver(name: "simulated") { context throws(DriverConfigurationError) in
        var parameters = try SimulatedCloudParameters(context.parameters)
        parameters.waitsForRunnerUpdates = true
        let cloud = SimulatedCloud(parameters: parameters, clock: ContinuousClock(), logger: context.logger)
        let runners = SimulatedRunnerBridge(cloud: cloud)
        return Driver.Product(
            instanceSet: cloud,
            access: .inProcess(executor: { id in cloud.executor(for: id) }),
            run: {
                await withDiscardingTaskGroup { group in
                    group.addTask { await cloud.run() }
                    group.addTask { await runners.run() }
                }
            }
        )
    }
}
