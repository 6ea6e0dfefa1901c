import CloudDriver
import Crypto
import DispatchModel
import Foundation

extension EC2InstanceSet {
    /// The name of the EC2 key pair holding `publicKey` (an OpenSSH public key line), importing it first
    /// when EC2 has no key pair with its fingerprint (reference §6.2).
    ///
    /// An imported key pair is named `arvados-dispatch-keypair-<fingerprint>`, so importing the same key
    /// again finds the name taken (`InvalidKeyPair.Duplicate`) and uses it.
    func keyName(for publicKey: String) async throws(CloudError) -> String {
        let fingerprints: [String]
        do throws(KeyFingerprintError) {
            fingerprints = try Self.keyFingerprints(publicKey)
        } catch {
            throw .other("cannot use the dispatcher's public key for an EC2 key pair: \(error.message)")
        }
        if let name = self.keyNames[fingerprints[0]] { return name }

        var describe: [(String, String)] = [("Filter.1.Name", "fingerprint")]
        for (number, fingerprint) in fingerprints.enumerated() {
            describe.append(("Filter.1.Value.\(number + 1)", fingerprint))
        }
        let name: String
        do throws(EC2APIError) {
            let found = try await self.client.call("DescribeKeyPairs", describe)
            if let existing = found.items("keySet").first?.text(at: "keyName"), !existing.isEmpty {
                name = existing
            } else {
                name = "arvados-dispatch-keypair-" + fingerprints[0]
                try await self.importKeyPair(named: name, publicKey: publicKey)
            }
        } catch {
            throw EC2ErrorMapping.cloudError(error, operation: "importing the key pair", retryAfter: .seconds(1))
        }
        self.keyNames[fingerprints[0]] = name
        return name
    }

    private func importKeyPair(named name: String, publicKey: String) async throws(EC2APIError) {
        do throws(EC2APIError) {
            _ = try await self.client.call(
                "ImportKeyPair",
                [("KeyName", name), ("PublicKeyMaterial", Data(publicKey.utf8).base64EncodedString())]
            )
        } catch  where error.awsCode == "InvalidKeyPair.Duplicate" {
            // Named after the fingerprint: a key pair of this name holds this key.
        }
    }

    /// The fingerprints EC2 may report for `publicKey` once imported, the one to name the key pair after
    /// first.
    ///
    /// Ed25519: the SHA-256 of the key blob in base64, with and without padding and the `SHA256:` prefix.
    /// Other key types: the MD5 of the key blob, colon-separated hex (EC2 accepts RSA and Ed25519 keys only).
    static func keyFingerprints(_ publicKey: String) throws(KeyFingerprintError) -> [String] {
        let fields = publicKey.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard fields.count >= 2, let blob = Data(base64Encoded: String(fields[1])) else {
            throw KeyFingerprintError(message: "not an OpenSSH public key line")
        }
        switch fields[0] {
        case "ssh-ed25519":
            let padded = Data(SHA256.hash(data: blob)).base64EncodedString()
            let unpadded = String(padded.prefix { $0 != "=" })
            return ["SHA256:" + unpadded, padded, unpadded]
        case "ssh-rsa":
            return [Insecure.MD5.hash(data: blob).map { [$0].lowercaseHex }.joined(separator: ":")]
        default:
            throw KeyFingerprintError(message: "EC2 key pairs hold RSA and Ed25519 keys only, not \(fields[0])")
        }
    }
}

/// A public key that cannot become an EC2 key pair.
struct KeyFingerprintError: Error {
    var message: String
}
