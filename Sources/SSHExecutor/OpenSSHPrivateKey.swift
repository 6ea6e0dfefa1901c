import Crypto
import Foundation
public import NIOSSH
public import RemoteExecution

/// Reads SSH private keys from OpenSSH key files, for swift-nio-ssh (which cannot read key files itself).
///
/// Supported: unencrypted `openssh-key-v1` files holding an Ed25519 or ECDSA P-256/P-384/P-521 key (what
/// `ssh-keygen -t ed25519` and `ssh-keygen -t ecdsa` write), and PEM ECDSA keys (`BEGIN EC PRIVATE KEY` or
/// PKCS #8). RSA keys and passphrase-protected keys are refused with an error that says so.
public enum OpenSSHPrivateKey: Sendable {
    /// The message for an RSA key: swift-nio-ssh implements no RSA.
    public static let rsaUnsupportedMessage = "ssh-rsa keys are not supported; use an ed25519 or ecdsa key"

    /// Parses the text of a private key file.
    public static func parse(_ text: String) throws(RemoteExecutionError) -> NIOSSHPrivateKey {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        if lines.contains("-----BEGIN RSA PRIVATE KEY-----") {
            throw RemoteExecutionError(code: .unsupportedKey, message: Self.rsaUnsupportedMessage)
        }
        if lines.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED") {
            throw Self.encryptedKeyError
        }
        if lines.contains("-----BEGIN EC PRIVATE KEY-----") || lines.contains("-----BEGIN PRIVATE KEY-----") {
            return try Self.parsePEM(text)
        }
        guard let begin = lines.firstIndex(of: "-----BEGIN OPENSSH PRIVATE KEY-----"),
            let end = lines.firstIndex(of: "-----END OPENSSH PRIVATE KEY-----"), begin < end
        else {
            throw RemoteExecutionError(code: .invalidKey, message: "not an OpenSSH private key file")
        }
        guard let data = Data(base64Encoded: lines[(begin + 1)..<end].joined()) else {
            throw RemoteExecutionError(code: .invalidKey, message: "the private key is not valid base64")
        }
        do {
            return try Self.parseKeyV1(Array(data))
        } catch let error as RemoteExecutionError {
            throw error
        } catch {
            throw RemoteExecutionError(code: .invalidKey, message: "the private key is malformed", cause: error)
        }
    }

    /// Reads and parses a key given as a file path or a `file:///path` URL (the Arvados configuration form).
    public static func load(from pathOrURL: String) throws(RemoteExecutionError) -> NIOSSHPrivateKey {
        let path: String
        if pathOrURL.hasPrefix("file://") {
            guard let url = URL(string: pathOrURL), url.isFileURL else {
                throw RemoteExecutionError(code: .invalidKey, message: "malformed file URL for the private key")
            }
            path = url.path
        } else {
            path = pathOrURL
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw RemoteExecutionError(
                code: .invalidKey,
                message: "cannot read the private key file \(path)",
                cause: error
            )
        }
        return try Self.parse(text)
    }

    /// Parses a configuration value that is either the key itself or a `file:///path` reference to it.
    public static func parse(configurationValue value: String) throws(RemoteExecutionError) -> NIOSSHPrivateKey {
        if value.hasPrefix("file://") {
            return try Self.load(from: value)
        }
        return try Self.parse(value)
    }

    /// The key's public half as an `authorized_keys` line: `"<algorithm> <base64>"`, plus ` <comment>` if given.
    public static func authorizedKeysLine(for key: NIOSSHPrivateKey, comment: String = "") -> String {
        let line = String(openSSHPublicKey: key.publicKey)
        return comment.isEmpty ? line : line + " " + comment
    }

    private static let encryptedKeyError = RemoteExecutionError(
        code: .unsupportedKey,
        message: "passphrase-protected private keys are not supported; remove the passphrase with ssh-keygen -p"
    )

    private static func parsePEM(_ text: String) throws(RemoteExecutionError) -> NIOSSHPrivateKey {
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: text) {
            return NIOSSHPrivateKey(p256Key: key)
        }
        if let key = try? P384.Signing.PrivateKey(pemRepresentation: text) {
            return NIOSSHPrivateKey(p384Key: key)
        }
        if let key = try? P521.Signing.PrivateKey(pemRepresentation: text) {
            return NIOSSHPrivateKey(p521Key: key)
        }
        throw RemoteExecutionError(
            code: .unsupportedKey,
            message: "unsupported PEM private key; use an ed25519 or ecdsa key in OpenSSH format"
        )
    }

    private static func parseKeyV1(_ bytes: [UInt8]) throws -> NIOSSHPrivateKey {
        var reader = SSHWireReader(bytes)
        guard try reader.take(15) == Array("openssh-key-v1\0".utf8) else {
            throw RemoteExecutionError(code: .invalidKey, message: "not an openssh-key-v1 private key")
        }
        let cipher = try reader.string()
        let kdf = try reader.string()
        _ = try reader.blob()  // KDF options
        let count = try reader.uint32()
        let publicBlob = try reader.blob()
        let publicType = try SSHWireReader(publicBlob).peekString()
        if publicType == "ssh-rsa" {
            throw RemoteExecutionError(code: .unsupportedKey, message: Self.rsaUnsupportedMessage)
        }
        guard cipher == "none", kdf == "none" else {
            throw Self.encryptedKeyError
        }
        guard count == 1 else {
            throw RemoteExecutionError(code: .invalidKey, message: "the key file holds \(count) keys; expected one")
        }
        var secret = SSHWireReader(try reader.blob())
        guard try secret.uint32() == secret.uint32() else {
            throw RemoteExecutionError(code: .invalidKey, message: "the private key's check bytes do not match")
        }
        let type = try secret.string()
        switch type {
        case "ssh-ed25519":
            _ = try secret.blob()  // the 32-byte public key
            let seedAndPublic = try secret.blob()  // 64 bytes: seed, then the public key
            guard seedAndPublic.count == 64 else {
                throw RemoteExecutionError(code: .invalidKey, message: "malformed ed25519 private key")
            }
            return NIOSSHPrivateKey(ed25519Key: try .init(rawRepresentation: seedAndPublic.prefix(32)))
        case "ecdsa-sha2-nistp256":
            return NIOSSHPrivateKey(p256Key: try .init(rawRepresentation: try Self.ecdsaScalar(&secret, width: 32)))
        case "ecdsa-sha2-nistp384":
            return NIOSSHPrivateKey(p384Key: try .init(rawRepresentation: try Self.ecdsaScalar(&secret, width: 48)))
        case "ecdsa-sha2-nistp521":
            return NIOSSHPrivateKey(p521Key: try .init(rawRepresentation: try Self.ecdsaScalar(&secret, width: 66)))
        case "ssh-rsa":
            throw RemoteExecutionError(code: .unsupportedKey, message: Self.rsaUnsupportedMessage)
        default:
            throw RemoteExecutionError(
                code: .unsupportedKey,
                message: "\(type) keys are not supported; use an ed25519 or ecdsa key"
            )
        }
    }

    /// Reads the curve name, the public point and the private scalar (an mpint), returning the scalar at
    /// the curve's fixed width.
    private static func ecdsaScalar(_ reader: inout SSHWireReader, width: Int) throws -> [UInt8] {
        _ = try reader.string()  // curve name
        _ = try reader.blob()  // public point Q
        let scalar = Array(try reader.blob().drop(while: { $0 == 0 }))
        guard scalar.count <= width else {
            throw RemoteExecutionError(code: .invalidKey, message: "malformed ecdsa private key")
        }
        return Array(repeating: 0, count: width - scalar.count) + scalar
    }
}

/// Reads the SSH wire encoding: big-endian `uint32` and length-prefixed strings.
struct SSHWireReader {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func take(_ count: Int) throws -> [UInt8] {
        guard count >= 0, self.position + count <= self.bytes.count else {
            throw RemoteExecutionError(code: .invalidKey, message: "the private key is truncated")
        }
        defer { self.position += count }
        return Array(self.bytes[self.position..<(self.position + count)])
    }

    mutating func uint32() throws -> UInt32 {
        try self.take(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func blob() throws -> [UInt8] {
        try self.take(Int(self.uint32()))
    }

    mutating func string() throws -> String {
        String(decoding: try self.blob(), as: UTF8.self)
    }

    func peekString() throws -> String {
        var copy = self
        return try copy.string()
    }
}
