import CloudDriver
import CloudDriverEC2
import CloudDriverLoopback
import CloudDriverSimulated
import SSHExecutor

extension DriverRegistry {
    /// The drivers this build knows: `ec2`, `loopback` and `simulated`.
    static var builtIn: DriverRegistry {
        DriverRegistry([.ec2, .loopback, .simulated])
    }
}

/// Which addresses SSH may dial for the instances of `instanceSet`.
///
/// Only EC2 at a real (non-loopback) endpoint has instances elsewhere; every other driver's instances, and
/// those of an EC2 endpoint on this host (a fake cloud such as moto, whose addresses are made up), may be
/// reached on loopback addresses only.
func dialPolicy(for instanceSet: any InstanceSet) -> DialPolicy {
    if let ec2 = instanceSet as? EC2InstanceSet<ContinuousClock>, !ec2.dialsLoopbackOnly {
        return .unrestricted
    }
    return .loopbackOnly
}

/// Whether the instances of `instanceSet` cannot be connected to at all: an EC2 endpoint on this host.
func instancesAreFake(_ instanceSet: any InstanceSet) -> Bool {
    (instanceSet as? EC2InstanceSet<ContinuousClock>)?.dialsLoopbackOnly ?? false
}
