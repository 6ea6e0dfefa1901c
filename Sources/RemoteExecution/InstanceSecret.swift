/// A per-instance secret that proves an SSH host is the instance the dispatcher created.
///
/// The dispatcher generates it, stores it in the instance's `<TagKeyPrefix>InstanceSecret` tag, and prepends
/// ``initCommand`` to the instance's boot script, which writes it to ``path``. On a new connection the
/// executor reads the file back (``InstanceSecretVerifier``) before it trusts the host key.
/// `description` is redacted so the secret does not end up in logs.
public struct InstanceSecret: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// Where the init command writes the secret on the instance.
    public static let path = "/var/run/arvados-instance-secret"

    /// The secret: 40 lowercase hexadecimal digits when generated here.
    public var rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// Generates a fresh secret: 20 random bytes from the system's secure generator, as 40 hex digits.
    public static func generate() -> InstanceSecret {
        var generator = SystemRandomNumberGenerator()
        return Self.generate(using: &generator)
    }

    /// Generates a secret from `generator` (tests pass a seeded generator).
    public static func generate(using generator: inout some RandomNumberGenerator) -> InstanceSecret {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(40)
        for _ in 0..<20 {
            let byte = UInt8.random(in: 0...255, using: &generator)
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return InstanceSecret(rawValue: String(decoding: hex, as: UTF8.self))
    }

    /// The shell line that writes the secret at boot, readable only by its owner:
    /// `umask 0177 && echo -n "<secret>" >/var/run/arvados-instance-secret`.
    public var initCommand: String {
        self.initCommand(path: Self.path)
    }

    /// The init command writing to another file (several loopback instances share one host).
    public func initCommand(path: String) -> String {
        "umask 0177 && echo -n \"\(self.rawValue)\" >\(path)"
    }

    /// The boot script for a new instance: ``initCommand`` on the first line, then `instanceInitCommand` if any.
    public func bootScript(instanceInitCommand: String = "") -> String {
        self.initCommand + "\n" + instanceInitCommand
    }

    public var description: String { "InstanceSecret(redacted)" }
}
