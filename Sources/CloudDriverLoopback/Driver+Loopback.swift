public import CloudDriver
import RemoteExecution

extension Driver {
    /// The `loopback` driver: a ``LoopbackCloud`` on the real clock, configured by ``LoopbackParameters``,
    /// keeping its instances under `DataDirectory` (by default `<DispatchCloud.DataDirectory>/loopback`).
    ///
    /// Its instances are reached over SSH on 127.0.0.1 only; they authorize whatever key they are created with,
    /// so without `Containers.DispatchPrivateKey` the dispatcher may use a key of its own.
    public static let loopback = Driver(name: "loopback") { context throws(DriverConfigurationError) in
        let parameters = try LoopbackParameters(context.parameters)
        let directory = try parameters.resolvedDataDirectory(dispatchDataDirectory: context.dataDirectory)
        do {
            let cloud = try LoopbackCloud<ContinuousClock>(
                parameters: parameters,
                dataDirectory: directory,
                logger: context.logger
            )
            return Driver.Product(
                instanceSet: cloud,
                access: .ssh(SSHAccess(dialPolicy: .loopbackOnly, allowsGeneratedKey: true))
            )
        } catch {
            throw DriverConfigurationError(
                code: .invalidParameter,
                key: "DataDirectory",
                message: "cannot open the loopback data directory \(directory)",
                cause: error
            )
        }
    }
}
