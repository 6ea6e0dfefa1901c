public import DispatchModel

/// Something that happened in a simulated cloud, in the order it happened.
///
/// The events are how a simulation reports what no caller asked about — above all containers that
/// finished — so an end-to-end run can move the containers along in the container API. Two clouds with
/// the same seed, driven by the same calls at the same clock times, report the same events.
public struct SimulatedCloudEvent: Hashable, Sendable, CustomStringConvertible {
    /// What happened.
    public enum Kind: Hashable, Sendable {
        /// An instance of the given provider type was created.
        case instanceCreated(providerType: String)
        /// The cloud accepted an instance's destroy; it is listed until it disappears.
        case instanceDestroyed
        /// A destroyed instance finished shutting down and is no longer listed.
        case instanceDisappeared
        /// A call failed on purpose, as configured (`operation` is `Create`, `List`, `Destroy` or
        /// `SetTags`; `code` names the `CloudError.Code`).
        case errorInjected(operation: String, code: String)
        /// `--detach` started a container.
        case containerStarted(ContainerUUID)
        /// A container ran to its end and exited with `exitCode`.
        case containerExited(ContainerUUID, exitCode: Int32)
        /// A container's runner died before the container ended.
        case runnerCrashed(ContainerUUID)
        /// `--kill` stopped a container.
        case containerKilled(ContainerUUID, signal: Int32)
        /// A container's run reached the limit set by ``SimulatedCloud/limitRun(_:on:to:)`` (its
        /// `max_run_time`) and was stopped.
        case maxRunTimeExceeded(ContainerUUID)
        /// A container's lock outlived it; `--list` reports it `stale` from now on.
        case lockLeftStale(ContainerUUID)
        /// An unresponsive instance (`UnresponsiveRate`) refused its first command: it answers nothing from now
        /// on, though its containers run on. Reported when the first command meets it, not when it began.
        case instanceStoppedAnswering
    }

    /// What happened.
    public var kind: Kind
    /// The instance it happened on, if any.
    public var instanceID: InstanceID?
    /// When it happened: the time since the cloud was made, on the cloud's clock.
    public var elapsed: Duration

    public init(kind: Kind, instanceID: InstanceID?, elapsed: Duration) {
        self.kind = kind
        self.instanceID = instanceID
        self.elapsed = elapsed
    }

    public var description: String {
        "\(self.elapsed) \(self.instanceID.map { "\($0) " } ?? "")\(self.kind)"
    }
}
