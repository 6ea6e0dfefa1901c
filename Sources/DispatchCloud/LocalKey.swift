import Crypto
import Foundation
import NIOSSH

/// The dispatcher's own SSH key for loopback instances when `Containers.DispatchPrivateKey` is empty: an
/// Ed25519 key generated once and kept in the data directory (mode 0600), so instances created before a
/// restart still accept it.
enum LocalKey {
    static let fileName = "dispatch-ssh-key.ed25519"

    static func loadOrCreate(in directory: String) throws(DispatcherError) -> NIOSSHPrivateKey {
        let path = directory + "/" + Self.fileName
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
                let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
            else {
                throw DispatcherError(
                    .dataDirectory,
                    "\(path) does not hold an Ed25519 key: remove it to make a new one"
                )
            }
            return NIOSSHPrivateKey(ed25519Key: key)
        }
        let key = Curve25519.Signing.PrivateKey()
        let created = FileManager.default.createFile(
            atPath: path,
            contents: Data((key.rawRepresentation.base64EncodedString() + "\n").utf8),
            attributes: [.posixPermissions: 0o600]
        )
        guard created else { throw DispatcherError(.dataDirectory, "cannot write the SSH key file \(path)") }
        return NIOSSHPrivateKey(ed25519Key: key)
    }
}
