import DispatchModel
import Foundation

/// Decodes a `Decodable` value straight from a ``DispatchModel/JSONValue``, for the values whose decoding is plain:
/// what `JSONDecoder` gives for the value's JSON text (``DispatchModel/JSONValue/jsonBytes``), without the text in
/// between. Every container update decodes the whole merged record (``WireJSON/decode(_:from:)``); writing it out
/// and decoding it with `JSONDecoder` was most of an update's time.
///
/// It decodes strictly, and anything it does not take is an error (``Unsupported``), for the caller to decode
/// through `JSONDecoder` after all, whose result or error then stands. So where it succeeds, the value is the one
/// `JSONDecoder` makes of the text, by these rules:
///
/// - an integer type takes ``DispatchModel/JSONValue/int(_:)`` in its range (the text is those digits); a
///   ``DispatchModel/JSONValue/double(_:)`` is not taken, though `JSONDecoder` may accept some;
/// - `Double` takes either kind of number: `Double(Int64)` rounds as reading the digits does, and a double's text is
///   its shortest decimal form, which reads back to the same double; `Float` is not taken (reading a double's text
///   as a float may round otherwise than converting the double);
/// - `String` and `Bool` take their own kinds only, as `JSONDecoder` does;
/// - a ``DispatchModel/JSONValue`` is taken as it is unless it holds a whole double (the text of one is an integer's,
///   which `JSONValue`'s decoding reads as ``DispatchModel/JSONValue/int(_:)``; the parser makes such doubles only
///   beyond `Int64`'s range);
/// - the types `JSONDecoder` decodes its own way (`Date`, `Data`, `URL`, `Decimal`), `Float`, nested containers
///   asked for by key and super decoders are not taken.
enum JSONValueDecoder {
    /// A value this decoder does not take: decode it through `JSONDecoder`.
    struct Unsupported: Error {}

    /// `T` decoded from `value`; ``Unsupported`` (or a decoding error) when not taken.
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try Self.unbox(type, value, path: [])
    }

    fileprivate static func unbox<T: Decodable>(_ type: T.Type, _ value: JSONValue, path: [any CodingKey]) throws -> T {
        if T.self == JSONValue.self {
            guard !Self.holdsWholeDouble(value), let same = value as? T else { throw Unsupported() }
            return same
        }
        if T.self == Date.self || T.self == Data.self || T.self == URL.self || T.self == Decimal.self {
            throw Unsupported()
        }
        return try T(from: Decoder(value: value, codingPath: path))
    }

    /// Whether `value` holds a whole double anywhere: a JSON value this decoder does not take as it is.
    static func holdsWholeDouble(_ value: JSONValue) -> Bool {
        switch value {
        case .double(let number): number.rounded() == number
        case .array(let elements): elements.contains(where: Self.holdsWholeDouble)
        case .object(let members): members.values.contains(where: Self.holdsWholeDouble)
        case .null, .bool, .int, .string: false
        }
    }

    static func bool(_ value: JSONValue) throws -> Bool {
        guard case .bool(let bool) = value else { throw Unsupported() }
        return bool
    }

    static func string(_ value: JSONValue) throws -> String {
        guard case .string(let string) = value else { throw Unsupported() }
        return string
    }

    static func double(_ value: JSONValue) throws -> Double {
        switch value {
        case .int(let integer): return Double(integer)
        case .double(let number): return number
        default: throw Unsupported()
        }
    }

    static func integer<T: FixedWidthInteger>(_ value: JSONValue) throws -> T {
        guard case .int(let integer) = value, let exact = T(exactly: integer) else { throw Unsupported() }
        return exact
    }

    private struct Decoder: Swift.Decoder {
        let value: JSONValue
        let codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            guard case .object(let members) = self.value else { throw Unsupported() }
            return KeyedDecodingContainer(Keyed<Key>(members: members, codingPath: self.codingPath))
        }

        func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
            guard case .array(let elements) = self.value else { throw Unsupported() }
            return Unkeyed(elements: elements, codingPath: self.codingPath)
        }

        func singleValueContainer() throws -> any SingleValueDecodingContainer {
            Single(value: self.value, codingPath: self.codingPath)
        }
    }

    private struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let members: [String: JSONValue]
        let codingPath: [any CodingKey]

        var allKeys: [Key] { self.members.keys.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { self.members[key.stringValue] != nil }

        private func value(_ key: Key) throws -> JSONValue {
            guard let value = self.members[key.stringValue] else { throw Unsupported() }
            return value
        }

        func decodeNil(forKey key: Key) throws -> Bool { try self.value(key) == .null }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try JSONValueDecoder.bool(self.value(key)) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String {
            try JSONValueDecoder.string(self.value(key))
        }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
            try JSONValueDecoder.double(self.value(key))
        }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw Unsupported() }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try JSONValueDecoder.integer(self.value(key)) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try JSONValueDecoder.integer(self.value(key)) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 {
            try JSONValueDecoder.integer(self.value(key))
        }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 {
            try JSONValueDecoder.integer(self.value(key))
        }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 {
            try JSONValueDecoder.integer(self.value(key))
        }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try JSONValueDecoder.integer(self.value(key)) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 {
            try JSONValueDecoder.integer(self.value(key))
        }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 {
            try JSONValueDecoder.integer(self.value(key))
        }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 {
            try JSONValueDecoder.integer(self.value(key))
        }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 {
            try JSONValueDecoder.integer(self.value(key))
        }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try JSONValueDecoder.unbox(type, self.value(key), path: self.codingPath + [key])
        }

        func nestedContainer<NestedKey: CodingKey>(
            keyedBy type: NestedKey.Type,
            forKey key: Key
        ) throws -> KeyedDecodingContainer<NestedKey> {
            throw Unsupported()
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { throw Unsupported() }
        func superDecoder() throws -> any Swift.Decoder { throw Unsupported() }
        func superDecoder(forKey key: Key) throws -> any Swift.Decoder { throw Unsupported() }
    }

    private struct Unkeyed: UnkeyedDecodingContainer {
        let elements: [JSONValue]
        let codingPath: [any CodingKey]
        var currentIndex = 0

        init(elements: [JSONValue], codingPath: [any CodingKey]) {
            self.elements = elements
            self.codingPath = codingPath
        }

        var count: Int? { self.elements.count }
        var isAtEnd: Bool { self.currentIndex >= self.elements.count }

        private mutating func next() throws -> JSONValue {
            guard !self.isAtEnd else { throw Unsupported() }
            defer { self.currentIndex += 1 }
            return self.elements[self.currentIndex]
        }

        mutating func decodeNil() throws -> Bool {
            guard !self.isAtEnd else { throw Unsupported() }
            guard self.elements[self.currentIndex] == .null else { return false }
            self.currentIndex += 1
            return true
        }
        mutating func decode(_ type: Bool.Type) throws -> Bool { try JSONValueDecoder.bool(self.next()) }
        mutating func decode(_ type: String.Type) throws -> String { try JSONValueDecoder.string(self.next()) }
        mutating func decode(_ type: Double.Type) throws -> Double { try JSONValueDecoder.double(self.next()) }
        mutating func decode(_ type: Float.Type) throws -> Float { throw Unsupported() }
        mutating func decode(_ type: Int.Type) throws -> Int { try JSONValueDecoder.integer(self.next()) }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try JSONValueDecoder.integer(self.next()) }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try JSONValueDecoder.integer(self.next()) }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try JSONValueDecoder.integer(self.next()) }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try JSONValueDecoder.integer(self.next()) }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try JSONValueDecoder.integer(self.next()) }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try JSONValueDecoder.integer(self.next()) }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try JSONValueDecoder.integer(self.next()) }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try JSONValueDecoder.integer(self.next()) }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try JSONValueDecoder.integer(self.next()) }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let path = self.codingPath + [IndexKey(intValue: self.currentIndex)]
            return try JSONValueDecoder.unbox(type, self.next(), path: path)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy type: NestedKey.Type
        ) throws -> KeyedDecodingContainer<NestedKey> {
            throw Unsupported()
        }
        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { throw Unsupported() }
        mutating func superDecoder() throws -> any Swift.Decoder { throw Unsupported() }
    }

    private struct Single: SingleValueDecodingContainer {
        let value: JSONValue
        let codingPath: [any CodingKey]

        func decodeNil() -> Bool { self.value == .null }
        func decode(_ type: Bool.Type) throws -> Bool { try JSONValueDecoder.bool(self.value) }
        func decode(_ type: String.Type) throws -> String { try JSONValueDecoder.string(self.value) }
        func decode(_ type: Double.Type) throws -> Double { try JSONValueDecoder.double(self.value) }
        func decode(_ type: Float.Type) throws -> Float { throw Unsupported() }
        func decode(_ type: Int.Type) throws -> Int { try JSONValueDecoder.integer(self.value) }
        func decode(_ type: Int8.Type) throws -> Int8 { try JSONValueDecoder.integer(self.value) }
        func decode(_ type: Int16.Type) throws -> Int16 { try JSONValueDecoder.integer(self.value) }
        func decode(_ type: Int32.Type) throws -> Int32 { try JSONValueDecoder.integer(self.value) }
        func decode(_ type: Int64.Type) throws -> Int64 { try JSONValueDecoder.integer(self.value) }
        func decode(_ type: UInt.Type) throws -> UInt { try JSONValueDecoder.integer(self.value) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try JSONValueDecoder.integer(self.value) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try JSONValueDecoder.integer(self.value) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try JSONValueDecoder.integer(self.value) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try JSONValueDecoder.integer(self.value) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try JSONValueDecoder.unbox(type, self.value, path: self.codingPath)
        }
    }

    /// An array position in a coding path.
    private struct IndexKey: CodingKey {
        var intValue: Int?
        var stringValue: String { "Index \(self.intValue ?? 0)" }

        init(intValue: Int) { self.intValue = intValue }
        init?(stringValue: String) { nil }
    }
}
