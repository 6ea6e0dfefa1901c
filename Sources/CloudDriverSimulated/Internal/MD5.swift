import Crypto
import DispatchModel

/// MD5 of a byte string, as `md5sum` prints it: 32 lowercase hex digits.
///
/// swift-crypto's (BoringSSL's assembly): a deployed runner is tens of megabytes, and simulated instances
/// hash every deploy.
enum MD5 {
    static func hex(_ bytes: [UInt8]) -> String {
        Insecure.MD5.hash(data: bytes).lowercaseHex
    }
}
