import Foundation

/// Generates throwaway key pairs with OpenSSH's `ssh-keygen`.
public enum SSHKeygen: Sendable {
    /// The path of `ssh-keygen`.
    public static let path = "/usr/bin/ssh-keygen"

    /// A generated key pair.
    public struct KeyPair: Sendable {
        /// The private key file (mode 0600).
        public var privateKeyPath: String
        /// The public key line as written to `<privateKeyPath>.pub`, with its comment.
        public var publicKeyLine: String
    }

    /// Runs `ssh-keygen -t type [-b bits] -N passphrase -f <directory>/<name>` and returns the pair.
    public static func generate(
        type: String,
        bits: Int? = nil,
        passphrase: String = "",
        in directory: TemporaryDirectory,
        name: String
    ) async throws -> KeyPair {
        let privateKeyPath = directory.file(name)
        var arguments = ["-q", "-t", type, "-N", passphrase, "-C", "dispatch-test", "-f", privateKeyPath]
        if let bits {
            arguments += ["-b", String(bits)]
        }
        let output = try await LocalProcess.run(Self.path, arguments)
        guard output.status == 0 else {
            throw TestSupportError("ssh-keygen -t \(type) failed: \(output.stderr)")
        }
        let publicKey = try String(contentsOfFile: privateKeyPath + ".pub", encoding: .utf8)
        return KeyPair(
            privateKeyPath: privateKeyPath,
            publicKeyLine: publicKey.trimmingCharacters(in: .whitespacesAndNewlines)
        )
    }
}
