/// Verifies a host key by reading the instance secret back over the not-yet-trusted connection.
///
/// A target's ``ExecutorTarget/verifyHostKey(_:over:)`` calls ``verify(over:)``. The host passes when
/// `cat /var/run/arvados-instance-secret` (with `sudo ` unless the remote user is root) exits 0 and prints
/// exactly the expected secret. An empty expected secret never passes, so an instance without the tag is never
/// trusted.
public struct InstanceSecretVerifier: Sendable {
    /// The secret the instance was created with (its `InstanceSecret` tag).
    public var expected: InstanceSecret
    /// The user the executor logs in as; a non-root user reads the root-only file through `sudo`.
    public var remoteUser: String
    /// The file the init command wrote; ``InstanceSecret/path`` except where several instances share a host.
    public var secretPath: String

    public init(expected: InstanceSecret, remoteUser: String, secretPath: String = InstanceSecret.path) {
        self.expected = expected
        self.remoteUser = remoteUser
        self.secretPath = secretPath
    }

    /// The command that prints the secret on the instance.
    public var readCommand: String {
        let cat = "cat \(self.secretPath)"
        return self.remoteUser == "root" ? cat : "sudo " + cat
    }

    /// Throws ``RemoteExecutionError/Code-swift.struct/hostKeyRejected`` unless the host proves it holds the
    /// expected secret.
    public func verify(over connection: some RemoteExecutor) async throws {
        guard !self.expected.rawValue.isEmpty else {
            throw RemoteExecutionError(code: .hostKeyRejected, message: "the instance has no secret to verify")
        }
        let result: CommandResult
        do {
            result = try await connection.execute(self.readCommand)
        } catch {
            throw RemoteExecutionError(
                code: .hostKeyRejected,
                message: "could not read the instance secret",
                cause: error
            )
        }
        guard result.exitStatus == 0 else {
            throw RemoteExecutionError(
                code: .hostKeyRejected,
                message: "reading the instance secret failed with exit status \(result.ending)"
            )
        }
        guard result.stdout == Array(self.expected.rawValue.utf8) else {
            throw RemoteExecutionError(code: .hostKeyRejected, message: "the instance secret does not match")
        }
    }
}
