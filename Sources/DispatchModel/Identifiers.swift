/// A string identifier with its own type, so an instance ID can never be passed where a container UUID
/// is expected.
///
/// Conformers get `description`, string-literal construction, ordering and single-value `Codable`
/// (through `RawRepresentable`) for free.
public protocol StringIdentifier:
    RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
where RawValue == String {
    init(rawValue: String)
}

extension StringIdentifier {
    public var description: String { self.rawValue }

    public init(stringLiteral value: String) {
        self.init(rawValue: value)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

/// The cloud provider's identifier for a VM instance, stable for the life of the instance.
public struct InstanceID: StringIdentifier {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// The name of an instance type in the site configuration (`InstanceTypes.<name>`).
public struct InstanceTypeName: StringIdentifier {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// The five-character Arvados cluster identifier, such as `zzzzz`.
public struct ClusterID: StringIdentifier {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Whether this is a well-formed Arvados cluster ID: five lowercase letters or digits.
    public var isWellFormed: Bool {
        self.rawValue.utf8.count == 5 && self.rawValue.utf8.allSatisfy { $0.isLowercaseASCIIAlphanumeric }
    }
}

/// The value of the `<TagKeyPrefix>InstanceSetID` tag: which dispatcher owns an instance.
public struct InstanceSetID: StringIdentifier {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// A cloud image identifier (an AMI, a loopback image name, …).
public struct ImageID: StringIdentifier {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// An Arvados container UUID: `<cluster>-dz642-<15 lowercase alphanumerics>`.
public struct ContainerUUID: StringIdentifier {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The object-type infix Arvados uses for containers.
    public static let typeInfix = "dz642"

    /// Whether the UUID has the Arvados container shape.
    public var isWellFormed: Bool {
        let parts = self.rawValue.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1] == Self.typeInfix else { return false }
        return ClusterID(rawValue: String(parts[0])).isWellFormed
            && parts[2].utf8.count == 15
            && parts[2].utf8.allSatisfy { $0.isLowercaseASCIIAlphanumeric }
    }

    /// The cluster prefix of the UUID, if it is well formed.
    public var clusterID: ClusterID? {
        guard self.isWellFormed else { return nil }
        return ClusterID(rawValue: String(self.rawValue.prefix(5)))
    }
}

extension UInt8 {
    var isLowercaseASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
