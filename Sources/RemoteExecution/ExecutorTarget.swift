/// A host key as presented by a server, in OpenSSH `authorized_keys` form (`"ssh-ed25519 AAAA…"`).
public struct HostKey: Hashable, Sendable, CustomStringConvertible {
    /// The algorithm and the base64 key blob, separated by one space, with no comment.
    public var openSSHString: String

    public init(openSSHString: String) {
        self.openSSHString = openSSHString
    }

    /// The key algorithm, such as `ssh-ed25519`.
    public var algorithm: Substring {
        self.openSSHString.prefix(while: { $0 != " " })
    }

    public var description: String { self.openSSHString }
}

/// The remote host an executor connects to: usually a cloud instance.
///
/// The executor asks the target for its address and user on every new connection, so a target may change
/// (for example when the cloud assigns an address) between connections.
public protocol ExecutorTarget: Sendable {
    /// `host:port`, `[ipv6]:port`, or a bare host (the executor's default port applies); empty when unknown.
    var address: String { get }
    /// The user to log in as.
    var remoteUser: String { get }

    /// Decides whether `hostKey`, presented on a new connection, really belongs to this target.
    ///
    /// `connection` runs commands over that not-yet-trusted connection (after client authentication), so a
    /// target can ask the host to prove its identity — see ``InstanceSecretVerifier``. Throw to reject the key;
    /// the executor then closes the connection without running the caller's command.
    /// Called only when the key differs from the last key this executor verified.
    func verifyHostKey(_ hostKey: HostKey, over connection: some RemoteExecutor) async throws
}
