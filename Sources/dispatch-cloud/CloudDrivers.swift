import CloudDriver
import CloudDriverEC2
import CloudDriverLoopback
import CloudDriverSimulated
import SimulatedRunner

extension DriverRegistry {
    /// The drivers this build knows: `ec2`, `loopback` and `simulated`.
    static var builtIn: DriverRegistry {
        DriverRegistry([.ec2, .loopback, .simulated])
    }
}

/// Whether the instances of `instanceSet` cannot be connected to at all: an EC2 endpoint on this host.
func instancesAreFake(_ instanceSet: any InstanceSet) -> Bool {
    (instanceSet as? EC2InstanceSet<ContinuousClock>)?.dialsLoopbackOnly ?? false
}
