/// A JSON text parser that builds a ``JSONValue`` tree directly.
///
/// `JSONValue`'s `Decodable` conformance finds a value's type by trying each one in turn, and every failed try
/// throws, so decoding a container's JSON through `JSONDecoder` cost dozens of thrown errors. This parser reads
/// the bytes once. It accepts exactly RFC 8259 JSON, as `JSONDecoder` does: a number that is a whole number in `Int64`'s
/// range becomes `.int`, any other `.double`; strings must be valid UTF-8; nesting deeper than 512 levels is refused.
public enum JSONParser: Sendable {
    /// Why a text is not JSON, and where.
    public struct SyntaxError: Error, CustomStringConvertible {
        public var message: String
        public var offset: Int

        public var description: String { "\(self.message) at byte \(self.offset)" }
    }

    public static let maximumDepth = 512

    /// Parses `text`, one JSON value with optional surrounding whitespace, nested at most `maximumDepth` levels.
    public static func parse(
        _ text: UnsafeRawBufferPointer,
        maximumDepth: Int = Self.maximumDepth
    ) throws(SyntaxError) -> JSONValue {
        try Self.read(text, maximumDepth: maximumDepth, building: true)
    }

    /// Parses `bytes`, as ``parse(_:maximumDepth:)-(UnsafeRawBufferPointer,_)`` parses a buffer.
    public static func parse(
        _ bytes: ArraySlice<UInt8>,
        maximumDepth: Int = Self.maximumDepth
    ) throws(SyntaxError) -> JSONValue {
        try bytes.withUnsafeBytes { text in
            Result { () throws(SyntaxError) in try Self.read(text, maximumDepth: maximumDepth, building: true) }
        }.get()
    }

    /// Checks `bytes` as ``parse(_:maximumDepth:)-(ArraySlice<UInt8>,_)`` does and returns the value with every
    /// object and array left empty: for a reader that only needs to know what kind of value a document holds, at the
    /// cost of reading it (a runner's configuration, checked at every container start, can carry the cluster's whole
    /// configuration).
    public static func shape(of bytes: ArraySlice<UInt8>) throws(SyntaxError) -> JSONValue {
        try bytes.withUnsafeBytes { text in
            Result { () throws(SyntaxError) in try Self.read(text, maximumDepth: Self.maximumDepth, building: false) }
        }.get()
    }

    private static func read(
        _ text: UnsafeRawBufferPointer,
        maximumDepth: Int,
        building: Bool
    ) throws(SyntaxError) -> JSONValue {
        var reader = JSONReader(text, depthLimit: min(maximumDepth, Self.maximumDepth), building: building)
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.index == text.count else {
            throw reader.error("Unexpected text after the JSON value")
        }
        return value
    }
}

/// The parser's state as it reads one text (``JSONParser``).
struct JSONReader {
    private let bytes: UnsafeRawBufferPointer
    private let depthLimit: Int
    /// Whether objects and arrays keep their members (else they are checked and dropped: ``JSONParser/shape(of:)``).
    private let building: Bool
    private(set) var index = 0

    init(_ bytes: UnsafeRawBufferPointer, depthLimit: Int, building: Bool = true) {
        self.bytes = bytes
        self.depthLimit = depthLimit
        self.building = building
    }

    func error(_ message: String) -> JSONParser.SyntaxError {
        JSONParser.SyntaxError(message: message, offset: self.index)
    }

    mutating func skipWhitespace() {
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): self.index += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws(JSONParser.SyntaxError) -> JSONValue {
        self.skipWhitespace()
        guard self.index < self.bytes.count else {
            throw self.error("Unexpected end of JSON text")
        }
        switch self.bytes[self.index] {
        case UInt8(ascii: "{"):
            return try self.object(depth: depth + 1)
        case UInt8(ascii: "["):
            return try self.array(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .string(try self.string())
        case UInt8(ascii: "t"):
            try self.literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try self.literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try self.literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try self.number()
        default:
            throw self.error("Unexpected character")
        }
    }

    private mutating func object(depth: Int) throws(JSONParser.SyntaxError) -> JSONValue {
        guard depth <= self.depthLimit else { throw self.error("JSON nested too deeply") }
        self.index += 1
        var members: [String: JSONValue] = [:]
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "}") {
            self.index += 1
            return .object(members)
        }
        while true {
            self.skipWhitespace()
            guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\"") else {
                throw self.error("Expected a member name")
            }
            let key = try self.string()
            self.skipWhitespace()
            guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: ":") else {
                throw self.error("Expected ':' after a member name")
            }
            self.index += 1
            let value = try self.value(depth: depth)
            if self.building { members[key] = value }
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw self.error("Unexpected end of JSON text") }
            switch self.bytes[self.index] {
            case UInt8(ascii: ","):
                self.index += 1
            case UInt8(ascii: "}"):
                self.index += 1
                return .object(members)
            default:
                throw self.error("Expected ',' or '}' in an object")
            }
        }
    }

    private mutating func array(depth: Int) throws(JSONParser.SyntaxError) -> JSONValue {
        guard depth <= self.depthLimit else { throw self.error("JSON nested too deeply") }
        self.index += 1
        var elements: [JSONValue] = []
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "]") {
            self.index += 1
            return .array(elements)
        }
        while true {
            let element = try self.value(depth: depth)
            if self.building { elements.append(element) }
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw self.error("Unexpected end of JSON text") }
            switch self.bytes[self.index] {
            case UInt8(ascii: ","):
                self.index += 1
            case UInt8(ascii: "]"):
                self.index += 1
                return .array(elements)
            default:
                throw self.error("Expected ',' or ']' in an array")
            }
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONParser.SyntaxError) {
        let count = word.utf8CodeUnitCount
        guard self.index + count <= self.bytes.count else { throw self.error("Unexpected end of JSON text") }
        for offset in 0..<count where self.bytes[self.index + offset] != word.utf8Start[offset] {
            throw self.error("Unexpected character")
        }
        self.index += count
    }

    private mutating func number() throws(JSONParser.SyntaxError) -> JSONValue {
        let start = self.index
        var integral = true
        if self.bytes[self.index] == UInt8(ascii: "-") {
            self.index += 1
        }
        let firstDigit = self.index
        guard self.digits() > 0 else { throw self.error("Invalid number") }
        if self.bytes[firstDigit] == UInt8(ascii: "0"), self.index - firstDigit > 1 {
            throw self.error("Invalid number: leading zero")
        }
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: ".") {
            integral = false
            self.index += 1
            guard self.digits() > 0 else { throw self.error("Invalid number") }
        }
        if self.index < self.bytes.count, self.bytes[self.index] | 0x20 == UInt8(ascii: "e") {
            integral = false
            self.index += 1
            if self.index < self.bytes.count,
                self.bytes[self.index] == UInt8(ascii: "+") || self.bytes[self.index] == UInt8(ascii: "-")
            {
                self.index += 1
            }
            guard self.digits() > 0 else { throw self.error("Invalid number") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
        if integral, let value = Int64(text) {
            return .int(value)
        }
        guard let value = Double(text), value.isFinite else {
            throw JSONParser.SyntaxError(message: "Number \(text) is not representable", offset: start)
        }
        // As JSONDecoder does, a fraction or exponent that still makes a whole number in range is an integer.
        if !integral, value.rounded() == value, value >= -0x1p63, value < 0x1p63 {
            return .int(Int64(value))
        }
        return .double(value)
    }

    /// Skips decimal digits; returns how many.
    private mutating func digits() -> Int {
        let start = self.index
        while self.index < self.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index]) {
            self.index += 1
        }
        return self.index - start
    }

    private mutating func string() throws(JSONParser.SyntaxError) -> String {
        self.index += 1
        let start = self.index
        // Any byte of the string's that is not ASCII, or'ed together.
        var high: UInt8 = 0
        // The common case: no escapes, so the string is the bytes between the quotes.
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            if byte == UInt8(ascii: "\"") {
                let raw = UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index])
                self.index += 1
                // ASCII is valid UTF-8: made without the validating initializer (generic, and not specialised here).
                if high & 0x80 == 0 { return String(decoding: raw, as: UTF8.self) }
                guard let text = String(validating: raw, as: UTF8.self) else {
                    throw JSONParser.SyntaxError(message: "Invalid UTF-8 in a string", offset: start)
                }
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw self.error("Unescaped control character in a string") }
            high |= byte
            self.index += 1
        }
        var decoded = Array(UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]))
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            switch byte {
            case UInt8(ascii: "\""):
                self.index += 1
                guard let text = String(validating: decoded, as: UTF8.self) else {
                    throw JSONParser.SyntaxError(message: "Invalid UTF-8 in a string", offset: start)
                }
                return text
            case UInt8(ascii: "\\"):
                self.index += 1
                guard self.index < self.bytes.count else { break }
                let escape = self.bytes[self.index]
                self.index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"):
                    let scalar = try self.unicodeEscape()
                    decoded.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    throw self.error("Invalid escape in a string")
                }
            default:
                guard byte >= 0x20 else { throw self.error("Unescaped control character in a string") }
                decoded.append(byte)
                self.index += 1
            }
        }
        throw self.error("Unterminated string")
    }

    /// The scalar of a `\uXXXX` escape whose `u` was just read, joining a surrogate pair.
    private mutating func unicodeEscape() throws(JSONParser.SyntaxError) -> Unicode.Scalar {
        let high = try self.hexQuad()
        if (0xD800..<0xDC00).contains(high) {
            guard self.index + 1 < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\\"),
                self.bytes[self.index + 1] == UInt8(ascii: "u")
            else {
                throw self.error("Unpaired surrogate in a string")
            }
            self.index += 2
            let low = try self.hexQuad()
            guard (0xDC00..<0xE000).contains(low) else { throw self.error("Unpaired surrogate in a string") }
            let value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            guard let scalar = Unicode.Scalar(value) else { throw self.error("Invalid \\u escape") }
            return scalar
        }
        guard let scalar = Unicode.Scalar(high) else { throw self.error("Unpaired surrogate in a string") }
        return scalar
    }

    private mutating func hexQuad() throws(JSONParser.SyntaxError) -> UInt32 {
        guard self.index + 4 <= self.bytes.count else { throw self.error("Invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw self.error("Invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            self.index += 1
        }
        return value
    }
}
