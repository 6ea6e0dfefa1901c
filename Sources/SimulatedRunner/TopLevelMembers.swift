/// The byte ranges of chosen members' values in a JSON object's top level, found without parsing the other values.
enum TopLevelMembers {
    /// The range of the value of each member of `names` the object `bytes` has, or `nil` when `bytes` is not one
    /// object the walk can follow: not an object, cut short, trailing bytes, a member name with an escape, one of
    /// `names` twice, or nesting deeper than ``maximumDepth``. The values themselves are not checked: a value
    /// that is not valid JSON is found all the same, and its decoder refuses it.
    static func ranges(of bytes: [UInt8], named names: Set<String>) -> [String: Range<Int>]? {
        var position = 0
        var found: [String: Range<Int>] = [:]
        Self.skipSpace(bytes, &position)
        guard position < bytes.count, bytes[position] == UInt8(ascii: "{") else { return nil }
        position += 1
        Self.skipSpace(bytes, &position)
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
        } else {
            while true {
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\""),
                    let nameEnd = Self.stringEnd(bytes, from: position)
                else { return nil }
                let nameBytes = bytes[(position + 1)..<(nameEnd - 1)]
                // An escaped name would need decoding to compare: left to the whole-document decoder.
                guard !nameBytes.contains(UInt8(ascii: "\\")) else { return nil }
                position = nameEnd
                Self.skipSpace(bytes, &position)
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return nil }
                position += 1
                Self.skipSpace(bytes, &position)
                let valueStart = position
                guard let valueEnd = Self.valueEnd(bytes, from: position) else { return nil }
                let name = String(decoding: nameBytes, as: UTF8.self)
                if names.contains(name) {
                    // A repeated member: which one counts is the decoder's choice, so it decides.
                    guard found[name] == nil else { return nil }
                    found[name] = valueStart..<valueEnd
                }
                position = valueEnd
                Self.skipSpace(bytes, &position)
                guard position < bytes.count else { return nil }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    Self.skipSpace(bytes, &position)
                    continue
                }
                guard bytes[position] == UInt8(ascii: "}") else { return nil }
                position += 1
                break
            }
        }
        Self.skipSpace(bytes, &position)
        return position == bytes.count ? found : nil
    }

    /// How deep the values stepped over may nest.
    static let maximumDepth = 512

    private static func skipSpace(_ bytes: [UInt8], _ position: inout Int) {
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): position += 1
            default: return
            }
        }
    }

    /// The position just past the string starting (with its quote) at `start`, or `nil` if it does not end.
    private static func stringEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var position = start + 1
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: "\\"): position += 2
            case UInt8(ascii: "\""): return position + 1
            default: position += 1
            }
        }
        return nil
    }

    /// The position just past the value starting at `start`, or `nil` if it does not end (or nests too deep).
    private static func valueEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        guard start < bytes.count else { return nil }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            return Self.stringEnd(bytes, from: start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var position = start
            var depth = 0
            while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: "\""):
                    guard let end = Self.stringEnd(bytes, from: position) else { return nil }
                    position = end
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    guard depth <= Self.maximumDepth else { return nil }
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return position + 1 }
                default:
                    break
                }
                position += 1
            }
            return nil
        default:
            // A number or a literal: up to the next delimiter.
            var position = start
            while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: " "), UInt8(ascii: "\t"),
                    UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                    return position > start ? position : nil
                default:
                    position += 1
                }
            }
            return nil
        }
    }
}
