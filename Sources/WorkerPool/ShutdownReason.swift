/// Why a worker is being destroyed; logged, and shown to operators.
enum ShutdownReason: String, Hashable, Sendable {
    /// Idle for `TimeoutIdle`.
    case idleTimeout = "idle timeout"
    /// Draining and nothing left to wait for.
    case drained
    /// Never passed its probes within `TimeoutBooting`.
    case bootTimeout = "boot timeout"
    /// Probes failed for `TimeoutProbe` after it had booted.
    case probeTimeout = "probe timeout"
    /// The scheduler no longer needs it (for example at quota).
    case unneeded = "not needed by the scheduler"
    /// An operator asked for it through the management API.
    case killed = "killed by operator"
    /// A previous destroy did not take: the instance is still listed after `TimeoutShutdown`.
    case destroyRetry = "destroy retry"
}
