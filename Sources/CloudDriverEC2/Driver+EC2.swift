public import CloudDriver
import Foundation
import Logging
import RemoteExecution

extension Driver {
    /// The `ec2` driver: an ``EC2InstanceSet`` on the real clock, configured by ``EC2Parameters``, signing
    /// with the configured credentials or those in the standard `AWS_*` environment variables.
    ///
    /// Its instances are reached over SSH with the configured key, at any address, unless the endpoint is on
    /// this host (a fake cloud such as moto, ``EC2Parameters/isFakeCloud``): then the addresses are made up
    /// and only loopback addresses may be dialled.
    public static let ec2 = Driver(name: "ec2") { context throws(DriverConfigurationError) in
        let environment = ProcessInfo.processInfo.environment
        let parameters = try EC2Parameters(context.parameters, environment: environment)
        guard let credentials = parameters.resolvedCredentials(environment: environment) else {
            throw .invalidParameter(
                "AccessKeyID",
                "no credentials: set AccessKeyID and SecretAccessKey, or AWS_ACCESS_KEY_ID and "
                    + "AWS_SECRET_ACCESS_KEY in the environment (instance-profile credentials are not supported)"
            )
        }
        if !parameters.ignoredKeys.isEmpty {
            context.logger.debug(
                "Ignoring DriverParameters keys the EC2 driver does not use",
                metadata: ["ec2.ignoredKeys": "\(parameters.ignoredKeys.joined(separator: ","))"]
            )
        }
        let instanceSet = EC2InstanceSet(parameters: parameters, credentials: credentials, logger: context.logger)
        return Driver.Product(
            instanceSet: instanceSet,
            access: .ssh(SSHAccess(dialPolicy: parameters.instanceDialPolicy, addressesAreFake: parameters.isFakeCloud))
        )
    }
}
