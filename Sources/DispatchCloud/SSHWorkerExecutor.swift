import CloudDriver
import NIOSSH
import RemoteExecution
import SSHExecutor
import WorkerPool

/// An instance as the SSH executor sees it: its address and user, and how its host key is trusted.
///
/// The driver is asked first; when it cannot tell, the instance must prove itself by reading back the
/// `InstanceSecret` the pool tagged it with (reference §7). The address and user are read from the pool's
/// listing on each new connection, so an instance that moves is dialled at its new address.
struct InstanceExecutorTarget<Instance: CloudInstance>: ExecutorTarget {
    let listing: InstanceListing<Instance>
    let secretTag: String

    var address: String { self.listing.current.address }
    var remoteUser: String { self.listing.current.remoteUser }

    func verifyHostKey(_ hostKey: HostKey, over connection: some RemoteExecutor) async throws {
        let instance = self.listing.current
        if try await instance.verifyHostKey(hostKey.openSSHString) == .verified { return }
        guard let secret = instance.tags[self.secretTag] else {
            throw RemoteExecutionError(
                code: .hostKeyRejected,
                message: "instance \(instance.id) has no InstanceSecret tag to verify its host key with"
            )
        }
        let verifier = InstanceSecretVerifier(
            expected: InstanceSecret(rawValue: secret),
            remoteUser: instance.remoteUser
        )
        try await verifier.verify(over: connection)
    }
}

extension Dispatcher {
    /// The executor of a worker on a real (or loopback) network: its commands run over SSH with the
    /// dispatcher's key, dialling only what `dialPolicy` allows.
    static func sshExecutor<Instance: CloudInstance>(
        _ listing: InstanceListing<Instance>,
        secretTag: String,
        privateKey: NIOSSHPrivateKey,
        dialPolicy: DialPolicy,
        port: Int
    ) -> SSHExecutor<InstanceExecutorTarget<Instance>> {
        var configuration = SSHExecutor<InstanceExecutorTarget<Instance>>.Configuration()
        configuration.defaultPort = port
        configuration.connectTimeout = .seconds(20)
        configuration.authTimeout = .seconds(20)
        return SSHExecutor(
            target: InstanceExecutorTarget(listing: listing, secretTag: secretTag),
            privateKey: privateKey,
            dialPolicy: dialPolicy,
            configuration: configuration
        )
    }
}
