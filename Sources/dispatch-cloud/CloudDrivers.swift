import CloudDriver
import CloudDriverLoopback
import CloudDriverSimulated

extension DriverRegistry {
    /// The drivers this build knows: `loopback` and `simulated`.
    static var builtIn: DriverRegistry {
        DriverRegistry([.loopback, .simulated])
    }
}
