public import CloudDriver
public import DispatchModel

/// An instance of a ``LoopbackCloud``, as listed or created at one moment.
///
/// Its ``address`` is `127.0.0.1:<port>` of its SSH server, or empty while it boots (or if its server
/// could not be started). Its host key is known to the driver, so ``verifyHostKey(_:)`` answers
/// ``CloudDriver/HostKeyVerification/verified`` for exactly that key and throws for any other.
public struct LoopbackInstance<C: Clock>: CloudInstance where C.Duration == Duration {
    let cloud: LoopbackCloud<C>
    public let id: InstanceID
    public let address: String
    public let remoteUser: String
    public let providerType: String
    public let tags: InstanceTags
    /// The instance's own host key in OpenSSH form (`ssh-ed25519 AAAA…`).
    public let hostPublicKey: String
    /// `<data>/instances/<id>`: everything the instance owns.
    public let stateDirectory: String
    /// The runner lock directory every command of the instance gets as `DISPATCH_RUNNER_LOCK_DIR`.
    public let lockDirectory: String
    /// Where the init command wrote the instance secret (pass it as `secretPath:` when verifying).
    ///
    /// Commands naming the standard path `/var/run/arvados-instance-secret` are rewritten to this file.
    public let instanceSecretPath: String

    public func setTags(_ tags: InstanceTags) async throws(CloudError) {
        try await self.cloud.setTags(tags, on: self.id)
    }

    public func destroy() async throws(CloudError) {
        try await self.cloud.destroy(self.id)
    }

    public func verifyHostKey(_ publicKeyOpenSSH: String) async throws(CloudError) -> HostKeyVerification {
        guard !self.hostPublicKey.isEmpty,
            LoopbackCloud<C>.keyFields(publicKeyOpenSSH) == LoopbackCloud<C>.keyFields(self.hostPublicKey)
        else {
            throw .other("the presented host key is not the host key of loopback instance \(self.id)")
        }
        return .verified
    }
}
