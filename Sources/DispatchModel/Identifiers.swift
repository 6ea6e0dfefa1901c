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

    /// A 64-bit digest of the UUID's last 16 bytes and its length, for filters that rule out most UUIDs without
    /// hashing or reading them whole (equal UUIDs have equal digests; unequal ones rarely do).
    ///
    /// Arvados UUIDs share their first 12 characters (cluster and type infix) and differ in the random tail, so
    /// the tail is as selective as the whole string.
    public var digest: UInt64 {
        var low: UInt64 = 0
        var high: UInt64 = 0
        let utf8 = self.rawValue.utf8
        let count = utf8.count
        let fast = utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard bytes.count >= 16 else { return false }
            let raw = UnsafeRawBufferPointer(bytes)
            low = raw.loadUnaligned(fromByteOffset: bytes.count - 16, as: UInt64.self)
            high = raw.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self)
            return true
        }
        if fast != true {
            // The same words, byte by byte, for short or non-contiguous strings.
            low = 0
            high = 0
            for (offset, byte) in utf8.suffix(16).enumerated() {
                let shift = UInt64(offset % 8) * 8
                if offset < 8 { low |= UInt64(byte) << shift } else { high |= UInt64(byte) << shift }
            }
        }
        // SplitMix64's finalizer over the words and the length.
        var z = low ^ (high &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(truncatingIfNeeded: count)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

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
