public import CloudDriver

extension Driver {
    /// The `simulated` driver: a ``SimulatedCloud`` on the real clock, configured by
    /// ``SimulatedCloudParameters``; its product's `run` reports container ends as they come due.
    public static let simulated = Driver(name: "simulated") { context throws(DriverConfigurationError) in
        let parameters = try SimulatedCloudParameters(context.parameters)
        let cloud = SimulatedCloud(parameters: parameters, clock: ContinuousClock(), logger: context.logger)
        return Driver.Product(instanceSet: cloud, run: { await cloud.run() })
    }
}
