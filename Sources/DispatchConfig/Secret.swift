/// A configured secret (a token or a private key) that never shows its value when printed.
///
/// `description`, `debugDescription` and reflection all print `<redacted>` (or `""` when the secret is
/// empty), so a secret cannot leak through string interpolation, `print`, `dump` or a logger. Read
/// ``value`` to use it.
public struct Secret: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable,
    ExpressibleByStringLiteral
{
    /// The secret itself.
    public var value: String

    public init(_ value: String) { self.value = value }
    public init(stringLiteral value: String) { self.value = value }

    /// Whether no secret is configured.
    public var isEmpty: Bool { self.value.isEmpty }

    /// What every rendering shows instead of a non-empty secret.
    public static let redactedText = "<redacted>"

    /// `<redacted>`, or `""` for an empty secret.
    public var description: String { self.isEmpty ? "\"\"" : Self.redactedText }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
