public import CloudDriver
public import DispatchModel
public import RemoteExecution
import Simulation

/// Runs commands on one instance of a ``SimulatedCloud``, in memory: the executor the simulated driver's
/// product gives the assembly for each instance.
public struct SimulatedInstanceExecutor<C: Clock, RNG: RandomNumberGenerator & Sendable>: RemoteExecutor
where C.Duration == Duration {
    let cloud: SimulatedCloud<C, RNG>
    /// The instance the commands run on.
    public let id: InstanceID

    // Compiled for the dispatcher's two clocks too (as the cloud's own `execute`): generic, every command looked up
    // the cloud's metadata to call it (about a hundredth of a simulated week).
    @_specialize(where C == VirtualClock, RNG == SeededRandomNumberGenerator)
    @_specialize(where C == ContinuousClock, RNG == SeededRandomNumberGenerator)
    public func execute(
        environment: [String: String],
        command: String,
        stdin: [UInt8]
    ) async throws(CloudError) -> CommandResult {
        try await self.cloud.execute(on: self.id, command: command, stdin: stdin)
    }

    /// The simulated cloud answers in memory, without waiting.
    public var answersInProcess: Bool { true }
}

extension SimulatedCloud {
    /// The executor of the instance `id`: its commands run in memory, and fail as an unreachable host's would
    /// while the instance does not answer or is gone.
    public nonisolated func executor(for id: InstanceID) -> SimulatedInstanceExecutor<C, RNG> {
        SimulatedInstanceExecutor(cloud: self, id: id)
    }
}

/// An instance of a ``SimulatedCloud``, as listed or created at one moment.
///
/// Its commands run in memory through ``execute(environment:command:stdin:)``; its ``address`` is under
/// the reserved `.invalid` domain, so nothing can dial it by mistake.
public struct SimulatedInstance<C: Clock, RNG: RandomNumberGenerator & Sendable>: CloudInstance, RemoteExecutor
where C.Duration == Duration {
    let cloud: SimulatedCloud<C, RNG>
    public let id: InstanceID
    public let providerType: String
    public let tags: InstanceTags
    public let remoteUser: String
    /// `<id>.simulated.invalid`.
    public let address: String

    /// The address of the instance `id`.
    static func address(of id: InstanceID) -> String { "\(id).simulated.invalid" }

    public func setTags(_ tags: InstanceTags) async throws(CloudError) {
        try await self.cloud.setTags(tags, on: self.id)
    }

    public func destroy() async throws(CloudError) {
        try await self.cloud.destroy(self.id)
    }

    public func execute(
        environment: [String: String],
        command: String,
        stdin: [UInt8]
    ) async throws(CloudError) -> CommandResult {
        try await self.cloud.execute(on: self.id, command: command, stdin: stdin)
    }

    /// The simulated cloud answers in memory, without waiting.
    public var answersInProcess: Bool { true }
}
