import DispatchModel
import Foundation

/// Encodes an `Encodable` value straight into a ``DispatchModel/JSONValue``: the value `JSONEncoder` would write,
/// as ``JSONParser`` reads it back, without the text in between.
///
/// Every stored container and log record goes through this (``WireJSON/value(of:)``); writing the JSON text and
/// parsing it again took most of the time of a container update. The result is the same by construction:
///
/// - a number becomes what the parser makes of `JSONEncoder`'s text for it: a whole number in `Int64`'s range is
///   ``DispatchModel/JSONValue/int(_:)``, any other ``DispatchModel/JSONValue/double(_:)``; a float is read as its
///   shortest decimal text, as the parser reads it. A number that is not finite is an error, as `JSONEncoder`'s
///   default strategy makes it;
/// - a value that encodes nothing is an empty object (`JSONEncoder` writes `{}` for it); at the top level it is an
///   error, as there;
/// - the types `JSONEncoder` writes its own way (`Data` in Base64, `URL` as its text, `Decimal`) go through
///   `JSONEncoder` itself.
enum JSONValueEncoder {
    /// The JSON of `value`.
    static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        if let special = try Self.special(value) { return special }
        let encoder = Encoder(codingPath: [])
        try value.encode(to: encoder)
        guard let node = encoder.node else {
            throw EncodingError.invalidValue(
                value,
                .init(codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values.")
            )
        }
        return node.resolved
    }

    /// The JSON of the types `JSONEncoder` encodes its own way, through `JSONEncoder`; `nil` for every other type.
    fileprivate static func special<T: Encodable>(_ value: T) throws -> JSONValue? {
        guard value is Data || value is URL || value is Decimal else { return nil }
        return try WireJSON.parse(JSONEncoder().encode(value))
    }

    /// A number as the parser reads `JSONEncoder`'s text for it.
    fileprivate static func number(_ value: Double, path: [any CodingKey]) throws -> JSONValue {
        guard let number = JSONValue.number(value) else {
            throw EncodingError.invalidValue(
                value,
                .init(codingPath: path, debugDescription: "Unable to encode \(value) directly in JSON.")
            )
        }
        return number
    }

    fileprivate static func integer<T: BinaryInteger>(_ value: T) -> JSONValue {
        if let exact = Int64(exactly: value) { return .int(exact) }
        return .double(Double(value))
    }

    /// A value being built: containers stay open to their encoders until the end.
    fileprivate enum Node {
        case value(JSONValue)
        case object(ObjectBox)
        case array(ArrayBox)
        /// What a super encoder encodes, read at the end.
        case deferred(Encoder)

        var resolved: JSONValue {
            switch self {
            case .value(let value): value
            case .object(let box): .object(box.members.mapValues(\.resolved))
            case .array(let box): .array(box.elements.map(\.resolved))
            case .deferred(let encoder): encoder.node?.resolved ?? .object([:])
            }
        }
    }

    fileprivate final class ObjectBox {
        var members: [String: Node] = [:]
    }

    fileprivate final class ArrayBox {
        var elements: [Node] = []
    }

    /// The node of `value`: an encoder of its own unless it is one of the special types.
    fileprivate static func node<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> Node {
        if let special = try Self.special(value) { return .value(special) }
        let encoder = Encoder(codingPath: path)
        try value.encode(to: encoder)
        return encoder.node ?? .value(.object([:]))
    }

    fileprivate final class Encoder: Swift.Encoder {
        let codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }
        /// What was encoded, if anything.
        var node: Node?

        init(codingPath: [any CodingKey]) {
            self.codingPath = codingPath
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            let box: ObjectBox
            if case .object(let existing) = self.node {
                box = existing
            } else {
                box = ObjectBox()
                self.node = .object(box)
            }
            return KeyedEncodingContainer(KeyedContainer<Key>(box: box, codingPath: self.codingPath))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            let box: ArrayBox
            if case .array(let existing) = self.node {
                box = existing
            } else {
                box = ArrayBox()
                self.node = .array(box)
            }
            return UnkeyedContainer(box: box, codingPath: self.codingPath)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer {
            SingleValueContainer(encoder: self)
        }
    }

    fileprivate struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let box: ObjectBox
        let codingPath: [any CodingKey]

        private func set(_ value: JSONValue, _ key: Key) { self.box.members[key.stringValue] = .value(value) }

        mutating func encodeNil(forKey key: Key) throws { self.set(.null, key) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { self.set(.bool(value), key) }
        mutating func encode(_ value: String, forKey key: Key) throws { self.set(.string(value), key) }
        mutating func encode(_ value: Double, forKey key: Key) throws {
            self.set(try JSONValueEncoder.number(value, path: self.codingPath + [key]), key)
        }
        mutating func encode(_ value: Float, forKey key: Key) throws {
            self.set(try JSONValueEncoder.number(Double(value.description) ?? .nan, path: self.codingPath + [key]), key)
        }
        mutating func encode(_ value: Int, forKey key: Key) throws { self.set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { self.set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { self.set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { self.set(.int(Int64(value)), key) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { self.set(.int(value), key) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { self.set(JSONValueEncoder.integer(value), key) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { self.set(.int(Int64(value)), key) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { self.set(.int(Int64(value)), key) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { self.set(.int(Int64(value)), key) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws {
            self.set(JSONValueEncoder.integer(value), key)
        }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            self.box.members[key.stringValue] = try JSONValueEncoder.node(value, path: self.codingPath + [key])
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type,
            forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> {
            let nested = ObjectBox()
            self.box.members[key.stringValue] = .object(nested)
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(box: nested, codingPath: self.codingPath + [key]))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let nested = ArrayBox()
            self.box.members[key.stringValue] = .array(nested)
            return UnkeyedContainer(box: nested, codingPath: self.codingPath + [key])
        }

        mutating func superEncoder() -> any Swift.Encoder {
            self.superEncoder(named: "super", key: SuperKey())
        }

        mutating func superEncoder(forKey key: Key) -> any Swift.Encoder {
            self.superEncoder(named: key.stringValue, key: key)
        }

        private func superEncoder(named name: String, key: any CodingKey) -> any Swift.Encoder {
            let encoder = Encoder(codingPath: self.codingPath + [key])
            self.box.members[name] = .deferred(encoder)
            return encoder
        }
    }

    fileprivate struct UnkeyedContainer: UnkeyedEncodingContainer {
        let box: ArrayBox
        let codingPath: [any CodingKey]
        var count: Int { self.box.elements.count }

        private var nextKey: any CodingKey { IndexKey(intValue: self.box.elements.count) }
        private func append(_ value: JSONValue) { self.box.elements.append(.value(value)) }

        mutating func encodeNil() throws { self.append(.null) }
        mutating func encode(_ value: Bool) throws { self.append(.bool(value)) }
        mutating func encode(_ value: String) throws { self.append(.string(value)) }
        mutating func encode(_ value: Double) throws {
            self.append(try JSONValueEncoder.number(value, path: self.codingPath + [self.nextKey]))
        }
        mutating func encode(_ value: Float) throws {
            self.append(
                try JSONValueEncoder.number(Double(value.description) ?? .nan, path: self.codingPath + [self.nextKey])
            )
        }
        mutating func encode(_ value: Int) throws { self.append(.int(Int64(value))) }
        mutating func encode(_ value: Int8) throws { self.append(.int(Int64(value))) }
        mutating func encode(_ value: Int16) throws { self.append(.int(Int64(value))) }
        mutating func encode(_ value: Int32) throws { self.append(.int(Int64(value))) }
        mutating func encode(_ value: Int64) throws { self.append(.int(value)) }
        mutating func encode(_ value: UInt) throws { self.append(JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: UInt8) throws { self.append(.int(Int64(value))) }
        mutating func encode(_ value: UInt16) throws { self.append(.int(Int64(value))) }
        mutating func encode(_ value: UInt32) throws { self.append(.int(Int64(value))) }
        mutating func encode(_ value: UInt64) throws { self.append(JSONValueEncoder.integer(value)) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            let node = try JSONValueEncoder.node(value, path: self.codingPath + [self.nextKey])
            self.box.elements.append(node)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type
        ) -> KeyedEncodingContainer<NestedKey> {
            let path = self.codingPath + [self.nextKey]
            let nested = ObjectBox()
            self.box.elements.append(.object(nested))
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(box: nested, codingPath: path))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let path = self.codingPath + [self.nextKey]
            let nested = ArrayBox()
            self.box.elements.append(.array(nested))
            return UnkeyedContainer(box: nested, codingPath: path)
        }

        mutating func superEncoder() -> any Swift.Encoder {
            let encoder = Encoder(codingPath: self.codingPath + [self.nextKey])
            self.box.elements.append(.deferred(encoder))
            return encoder
        }
    }

    fileprivate struct SingleValueContainer: SingleValueEncodingContainer {
        let encoder: Encoder
        var codingPath: [any CodingKey] { self.encoder.codingPath }

        private func set(_ value: JSONValue) { self.encoder.node = .value(value) }

        mutating func encodeNil() throws { self.set(.null) }
        mutating func encode(_ value: Bool) throws { self.set(.bool(value)) }
        mutating func encode(_ value: String) throws { self.set(.string(value)) }
        mutating func encode(_ value: Double) throws {
            self.set(try JSONValueEncoder.number(value, path: self.codingPath))
        }
        mutating func encode(_ value: Float) throws {
            self.set(try JSONValueEncoder.number(Double(value.description) ?? .nan, path: self.codingPath))
        }
        mutating func encode(_ value: Int) throws { self.set(.int(Int64(value))) }
        mutating func encode(_ value: Int8) throws { self.set(.int(Int64(value))) }
        mutating func encode(_ value: Int16) throws { self.set(.int(Int64(value))) }
        mutating func encode(_ value: Int32) throws { self.set(.int(Int64(value))) }
        mutating func encode(_ value: Int64) throws { self.set(.int(value)) }
        mutating func encode(_ value: UInt) throws { self.set(JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: UInt8) throws { self.set(.int(Int64(value))) }
        mutating func encode(_ value: UInt16) throws { self.set(.int(Int64(value))) }
        mutating func encode(_ value: UInt32) throws { self.set(.int(Int64(value))) }
        mutating func encode(_ value: UInt64) throws { self.set(JSONValueEncoder.integer(value)) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            self.encoder.node = try JSONValueEncoder.node(value, path: self.codingPath)
        }
    }

    private struct SuperKey: CodingKey {
        var stringValue: String { "super" }
        var intValue: Int? { nil }
        init() {}
        init?(stringValue: String) { nil }
        init?(intValue: Int) { nil }
    }

    private struct IndexKey: CodingKey {
        let intValue: Int?
        var stringValue: String { "Index \(self.intValue ?? 0)" }
        init(intValue: Int) { self.intValue = intValue }
        init?(stringValue: String) { nil }
    }
}
