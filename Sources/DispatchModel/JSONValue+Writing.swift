extension JSONValue {
    /// Compact JSON with object keys in UTF-8 byte order and slashes unescaped: byte for byte what
    /// `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes` writes, several times faster, and
    /// without Codable's machinery (whose first use costs a short-lived runner process more than its requests).
    /// Every stored container, every API response and every request body goes through here.
    public var jsonBytes: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        Self.append(self, to: &output)
        return output
    }

    /// The compact JSON of an object with `members` (as ``jsonBytes`` writes it), and where a member named `key`,
    /// which `members` does not have, would begin in it: at the member it would come before (after that member's
    /// preceding comma), or at the closing brace.
    ///
    /// So a document and its digest without one member are written once: the stored containers' etags.
    public static func objectBytes(
        _ members: [String: JSONValue],
        insertionPointOf key: String
    ) -> (bytes: [UInt8], insertion: Int) {
        Self.objectBytes(members, keys: members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, key)
    }

    /// The keys of objects that always have the same members (a stored container's), in the order
    /// ``jsonBytes`` writes them, with each key's `"key":` written once.
    public struct ObjectLayout: Sendable {
        let keys: [String]
        /// Each key's JSON string and colon.
        let prefixes: [[UInt8]]

        public init(keys: some Sequence<String>) {
            self.keys = Set(keys).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            self.prefixes = self.keys.map { key in
                var prefix: [UInt8] = []
                JSONValue.appendString(key, to: &prefix)
                prefix.append(UInt8(ascii: ":"))
                return prefix
            }
        }

        /// Whether `members` has exactly this layout's keys.
        public func fits(_ members: [String: JSONValue]) -> Bool {
            members.count == self.keys.count && self.keys.allSatisfy { members[$0] != nil }
        }
    }

    /// ``objectBytes(_:insertionPointOf:)`` for an object whose keys are usually `layout`'s: then without sorting
    /// them or writing them again. The same bytes whatever the keys (another key set is written as that function
    /// writes it).
    public static func objectBytes(
        _ members: [String: JSONValue],
        layout: ObjectLayout,
        insertionPointOf key: String
    ) -> (bytes: [UInt8], insertion: Int) {
        guard members.count == layout.keys.count else { return Self.objectBytes(members, insertionPointOf: key) }
        var output: [UInt8] = []
        output.reserveCapacity(1024)
        output.append(UInt8(ascii: "{"))
        var insertion: Int?
        for index in layout.keys.indices {
            guard let value = members[layout.keys[index]] else {
                // Another key set: as many members, some named otherwise.
                return Self.objectBytes(members, insertionPointOf: key)
            }
            if index > 0 { output.append(UInt8(ascii: ",")) }
            if insertion == nil && key.utf8.lexicographicallyPrecedes(layout.keys[index].utf8) {
                insertion = output.count
            }
            output.append(contentsOf: layout.prefixes[index])
            Self.append(value, to: &output)
        }
        let end = output.count
        output.append(UInt8(ascii: "}"))
        return (output, insertion ?? end)
    }

    /// The object's bytes with its keys in `keys`, which are `members`' keys sorted.
    private static func objectBytes(
        _ members: [String: JSONValue],
        keys: [String],
        _ key: String
    ) -> (bytes: [UInt8], insertion: Int) {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        output.append(UInt8(ascii: "{"))
        var insertion: Int?
        for (index, member) in keys.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            if insertion == nil && key.utf8.lexicographicallyPrecedes(member.utf8) { insertion = output.count }
            Self.appendString(member, to: &output)
            output.append(UInt8(ascii: ":"))
            Self.append(members[member] ?? .null, to: &output)
        }
        let end = output.count
        output.append(UInt8(ascii: "}"))
        return (output, insertion ?? end)
    }

    /// `bytes`, an object's JSON from ``objectBytes(_:insertionPointOf:)``, with the member `key`: `value` put in at
    /// `insertion`: byte for byte the ``jsonBytes`` of the object with that member.
    public static func inserting(
        _ key: String,
        _ value: JSONValue,
        into bytes: [UInt8],
        at insertion: Int
    ) -> [UInt8] {
        var member: [UInt8] = []
        Self.appendString(key, to: &member)
        member.append(UInt8(ascii: ":"))
        Self.append(value, to: &member)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + member.count + 1)
        output.append(contentsOf: bytes[..<insertion])
        let atEnd = insertion == bytes.count - 1
        if atEnd && bytes.count > 2 { output.append(UInt8(ascii: ",")) }
        output.append(contentsOf: member)
        if !atEnd { output.append(UInt8(ascii: ",")) }
        output.append(contentsOf: bytes[insertion...])
        return output
    }

    private static func append(_ value: JSONValue, to output: inout [UInt8]) {
        switch value {
        case .null:
            output.append(contentsOf: "null".utf8)
        case .bool(let value):
            output.append(contentsOf: value ? "true".utf8 : "false".utf8)
        case .int(let value):
            output.append(contentsOf: String(value).utf8)
        case .double(let value):
            // Non-finite doubles never decode into a JSONValue; `null` rather than invalid JSON if one is made.
            guard value.isFinite else {
                output.append(contentsOf: "null".utf8)
                return
            }
            var text = value.description
            if text.hasSuffix(".0") { text.removeLast(2) }
            output.append(contentsOf: text.utf8)
        case .string(let value):
            Self.appendString(value, to: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                Self.append(element, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (index, key) in keys.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                Self.appendString(key, to: &output)
                output.append(UInt8(ascii: ":"))
                Self.append(members[key] ?? .null, to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string: `"` and `\` escaped, control characters as `\b \f \n \r \t` or `\u00xx`.
    private static func appendString(_ value: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        let plain = value.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.allSatisfy { $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        }
        if let plain, plain {
            // Nothing to escape (nearly every string): copied at once.
            output.append(contentsOf: value.utf8)
            output.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                output.append(contentsOf: "\\u00".utf8)
                output.append(Self.hexDigits[Int(byte >> 4)])
                output.append(Self.hexDigits[Int(byte & 0x0F)])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
