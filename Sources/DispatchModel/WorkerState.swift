/// What a worker is doing, as the management API and metrics name it.
public enum WorkerState: String, Hashable, Sendable, Codable, CaseIterable {
    /// Listed by the cloud but not created by this process, and no probe has succeeded yet.
    case unknown
    /// Created by this process; the boot and run probes have not both succeeded yet.
    case booting
    /// Booted, with no container starting or running.
    case idle
    /// At least one container is starting or running.
    case running
    /// Destroy requested; the worker stays until the instance vanishes from the cloud list.
    case shutdown
}

/// What an operator wants a worker to do when it has nothing to run.
///
/// Persisted in the instance's `<TagKeyPrefix>IdleBehavior` tag so it survives a dispatcher restart.
public enum IdleBehavior: String, Hashable, Sendable, Codable, CaseIterable {
    /// Take containers; shut down after `TimeoutIdle` with nothing to run.
    case run
    /// Take no new containers and never shut down automatically; only an explicit kill destroys it.
    case hold
    /// Take no new containers; shut down as soon as nothing is running.
    case drain
}

/// How a worker's boot ended, reported once per worker in `arvados_dispatchcloud_boot_outcomes`.
public enum BootOutcome: String, Hashable, Sendable, Codable, CaseIterable {
    /// Timed out booting, or reported itself broken while its behaviour was `run`.
    case failure
    /// The boot and run probes succeeded.
    case success
    /// Shut down (idle, drain, scheduler or kill) before any other outcome.
    case aborted
    /// Vanished from the cloud list before any other outcome.
    case disappeared
}
