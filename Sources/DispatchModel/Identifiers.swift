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
///
/// Kept packed: a well-formed UUID's 20 varying characters (cluster and tail, base 36) fit in two words, so
/// copying, comparing and hashing a UUID touch no heap object and count no reference (its 27-byte text lives on the
/// heap, and the dispatcher copies UUIDs into every table it builds: at a simulated week that counting was a tenth
/// of the run). ``rawValue`` gives the text back. Any other text (a UUID from elsewhere, a test's name) is kept as
/// given.
public struct ContainerUUID: StringIdentifier {
    private enum Storage: Hashable {
        /// A well-formed UUID's fields, in the text's order, each a base-36 number: the cluster (5 digits, in 26
        /// bits), then the tail in two parts (7 digits in 37 bits, 8 digits in 42 bits): 105 bits, of which `high`
        /// holds the top 41.
        case packed(high: UInt64, low: UInt64)
        case text(String)
    }

    private var storage: Storage

    public var rawValue: String {
        get {
            switch self.storage {
            case .packed(let high, let low): Self.text(high: high, low: low)
            case .text(let text): text
            }
        }
        set { self.storage = Self.storage(of: newValue) }
    }

    public init(rawValue: String) { self.storage = Self.storage(of: rawValue) }

    /// The object-type infix Arvados uses for containers.
    public static let typeInfix = "dz642"

    public static func == (lhs: ContainerUUID, rhs: ContainerUUID) -> Bool { lhs.storage == rhs.storage }

    public func hash(into hasher: inout Hasher) {
        switch self.storage {
        case .packed(let high, let low):
            hasher.combine(high)
            hasher.combine(low)
        case .text(let text):
            hasher.combine(text)
        }
    }

    /// The text's order (the packed form keeps it: its fields are in the text's order, each of fixed width).
    public static func < (lhs: ContainerUUID, rhs: ContainerUUID) -> Bool {
        if case .packed(let lhsHigh, let lhsLow) = lhs.storage, case .packed(let rhsHigh, let rhsLow) = rhs.storage {
            return (lhsHigh, lhsLow) < (rhsHigh, rhsLow)
        }
        return lhs.rawValue < rhs.rawValue
    }

    /// A 64-bit digest, for filters that rule out most UUIDs without comparing them (equal UUIDs have equal
    /// digests; unequal ones rarely do).
    public var digest: UInt64 {
        var high: UInt64 = 0
        var low: UInt64 = 0
        switch self.storage {
        case .packed(let packedHigh, let packedLow):
            high = packedHigh
            low = packedLow
        case .text(let text):
            // Its last 16 bytes and its length.
            for (offset, byte) in text.utf8.suffix(16).enumerated() {
                let shift = UInt64(offset % 8) * 8
                if offset < 8 { low |= UInt64(byte) << shift } else { high |= UInt64(byte) << shift }
            }
            high ^= UInt64(truncatingIfNeeded: text.utf8.count) &* 0xC2B2_AE3D_27D4_EB4F
        }
        // SplitMix64's finalizer over the words.
        var z = low ^ (high &* 0x9E37_79B9_7F4A_7C15)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    // MARK: Packing

    private static func storage(of text: String) -> Storage {
        var text = text
        return text.withUTF8 { Self.packed($0) } ?? .text(text)
    }

    /// The packed form of a well-formed UUID's bytes, or `nil`.
    private static func packed(_ bytes: UnsafeBufferPointer<UInt8>) -> Storage? {
        guard bytes.count == 27, bytes[5] == UInt8(ascii: "-"), bytes[11] == UInt8(ascii: "-"),
            bytes[6] == UInt8(ascii: "d"), bytes[7] == UInt8(ascii: "z"), bytes[8] == UInt8(ascii: "6"),
            bytes[9] == UInt8(ascii: "4"), bytes[10] == UInt8(ascii: "2"),
            let cluster = Self.number(bytes, 0..<5), let first = Self.number(bytes, 12..<19),
            let second = Self.number(bytes, 19..<27)
        else { return nil }
        // cluster (26 bits) | first (37) | second (42)
        return .packed(high: (first >> 22) | (cluster << 15), low: second | (first << 42))
    }

    /// The base-36 number the characters at `range` spell, or `nil` if one is not a lowercase letter or a digit.
    private static func number(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt64? {
        var value: UInt64 = 0
        for offset in range {
            guard let digit = Self.digit(bytes[offset]) else { return nil }
            value = value * 36 + UInt64(digit)
        }
        return value
    }

    /// The text of a packed UUID.
    private static func text(high: UInt64, low: UInt64) -> String {
        let second = low & ((1 << 42) - 1)
        let first = (low >> 42) | ((high & ((1 << 15) - 1)) << 22)
        let cluster = high >> 15
        return String(unsafeUninitializedCapacity: 27) { buffer in
            Self.write(cluster, digits: 5, endingAt: 5, into: buffer)
            for (offset, byte) in "-dz642-".utf8.enumerated() { buffer[5 + offset] = byte }
            Self.write(first, digits: 7, endingAt: 19, into: buffer)
            Self.write(second, digits: 8, endingAt: 27, into: buffer)
            return 27
        }
    }

    /// Writes `value` as `digits` base-36 characters ending before `end`.
    private static func write(
        _ value: UInt64,
        digits: Int,
        endingAt end: Int,
        into buffer: UnsafeMutableBufferPointer<UInt8>
    ) {
        var value = value
        for offset in stride(from: end - 1, through: end - digits, by: -1) {
            buffer[offset] = Self.character(Int(value % 36))
            value /= 36
        }
    }

    private static func digit(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): Int(byte - UInt8(ascii: "a")) + 10
        default: nil
        }
    }

    private static func character(_ digit: Int) -> UInt8 {
        digit < 10 ? UInt8(ascii: "0") + UInt8(digit) : UInt8(ascii: "a") + UInt8(digit - 10)
    }

    /// Whether the UUID has the Arvados container shape (what is kept packed).
    public var isWellFormed: Bool {
        if case .packed = self.storage { true } else { false }
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
