public import DispatchModel

/// `Containers.CloudVMs.DriverParameters`: the driver's own settings, kept as the raw tree from the file.
///
/// The configuration loader does not interpret these: the chosen driver decodes and validates them. The
/// tree may hold credentials, so printing it shows ``redacted`` (every secret-looking key replaced).
public struct DriverParameters: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The parameters exactly as written: normally an object.
    public var raw: JSONValue

    public init(raw: JSONValue = .object([:])) { self.raw = raw }

    /// Whether `key` names a secret: `SecretAccessKey`, `ClientSecret`, or any key containing `Secret`,
    /// `Password` or `Token` (case-insensitively).
    public static func isSecretKey(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return ["secret", "password", "token"].contains { lowered.contains($0) }
    }

    /// The tree with the value of every secret key replaced by `<redacted>` (empty strings stay empty).
    public var redacted: JSONValue { Self.redact(self.raw) }

    static func redact(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            var result: [String: JSONValue] = [:]
            for (key, member) in members {
                if Self.isSecretKey(key) {
                    result[key] = member == .string("") ? member : .string(Secret.redactedText)
                } else {
                    result[key] = Self.redact(member)
                }
            }
            return .object(result)
        case .array(let elements):
            return .array(elements.map(Self.redact))
        case .null, .bool, .int, .double, .string:
            return value
        }
    }

    public var description: String { "DriverParameters(\(Self.render(self.redacted)))" }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: ["redacted": self.redacted], displayStyle: .struct) }

    private static func render(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let flag): "\(flag)"
        case .int(let number): "\(number)"
        case .double(let number): "\(number)"
        case .string(let text): "\"\(text)\""
        case .array(let elements): "[" + elements.map(Self.render).joined(separator: ", ") + "]"
        case .object(let members):
            "{" + members.keys.sorted().map { "\($0): \(Self.render(members[$0]!))" }.joined(separator: ", ") + "}"
        }
    }
}
