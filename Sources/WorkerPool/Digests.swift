import Crypto
import DispatchModel

/// The digests the pool needs: the runner binary's MD5 and the gateway auth secret.
enum Digests {
    /// The MD5 of `bytes` in lowercase hex, as `md5sum` prints it.
    static func md5Hex(_ bytes: [UInt8]) -> String {
        Insecure.MD5.hash(data: bytes).lowercaseHex
    }

    /// The secret a container's gateway accepts: hex HMAC-SHA256 of the container UUID keyed by the
    /// `SystemRootToken`.
    static func gatewayAuthSecret(uuid: String, systemRootToken: String) -> String {
        let key = SymmetricKey(data: Array(systemRootToken.utf8))
        return HMAC<SHA256>.authenticationCode(for: Array(uuid.utf8), using: key).lowercaseHex
    }

    /// 40 lowercase hex characters from the system's secure random generator: an instance secret.
    static func randomSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<20).map { _ in UInt8.random(in: 0...255, using: &generator) }.lowercaseHex
    }
}
