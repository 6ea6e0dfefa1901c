import CloudDriver
import CloudDriverEC2
import CloudDriverLoopback
import SimulatedRunner

extension DriverRegistry {
    /// The drivers this build knows: `ec2`, `loopback` and `simulated`.
    static var builtIn: DriverRegistry {
        DriverRegistry([.ec2, .loopback, .simulated])
    }
}
