import Crypto

/// MD5 of a byte string, as `md5sum` prints it: 32 lowercase hex digits.
///
/// swift-crypto's (BoringSSL's assembly): a deployed runner is tens of megabytes, and simulated instances
/// hash every deploy.
enum MD5 {
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(32)
        for byte in Insecure.MD5.hash(data: bytes) {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
