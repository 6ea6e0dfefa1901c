import DispatchModel
import Foundation

/// Conversions between the model's `Codable` types, `JSONValue` trees and bytes on the wire.
enum WireJSON {
    /// The JSON of `encodable`, as `JSONEncoder` writes it and ``parse(_:maximumDepth:)`` reads it back
    /// (``JSONValueEncoder``).
    static func value(of encodable: some Encodable) throws -> JSONValue {
        try JSONValueEncoder.encode(encodable)
    }

    /// `value`'s JSON text decoded by `JSONDecoder`: straight from the value where ``JSONValueDecoder`` takes it (the
    /// same result), else through the text, so that `JSONDecoder`'s result or error stands.
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        if let decoded = try? JSONValueDecoder.decode(type, from: value) { return decoded }
        return try JSONDecoder().decode(type, from: Data(self.bytes(value)))
    }

    static func parse(_ bytes: [UInt8], maximumDepth: Int = JSONParser.maximumDepth) throws -> JSONValue {
        try JSONParser.parse(bytes[...], maximumDepth: maximumDepth)
    }

    static func parse(_ bytes: Data) throws -> JSONValue {
        try bytes.withUnsafeBytes { bytes throws(JSONParser.SyntaxError) in try JSONParser.parse(bytes) }
    }

    /// Compact JSON, keys sorted: ``JSONValue/jsonBytes``.
    static func bytes(_ value: JSONValue) -> [UInt8] { value.jsonBytes }

    static func string(_ value: JSONValue) -> String {
        String(decoding: self.bytes(value), as: UTF8.self)
    }
}

extension WireJSON {
    /// Rewrites the timestamps among `fields` of `object` to microsecond precision,
    /// `2026-11-29T09:39:42.123456Z`, as Arvados writes them and as the storage columns compare them.
    static func normalizeTimestamps(in object: inout [String: JSONValue], fields: [String]) {
        for field in fields {
            guard let text = object[field]?.stringValue, let timestamp = Timestamp(rfc3339: text) else { continue }
            object[field] = .string(Self.microsecondText(timestamp))
        }
    }

    static func microsecondText(_ timestamp: Timestamp) -> String {
        let micros = timestamp.microseconds
        let seconds = Self.floorDivide(micros, 1_000_000)
        return Timestamp.rfc3339(secondsSince1970: seconds, fraction: micros - seconds * 1_000_000, digits: 6)
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : (value - divisor + 1) / divisor
    }
}

extension JSONValue {
    /// The object's members, if this is an object.
    var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The elements, if this is an array.
    var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The integer, if this is a number without a fractional part.
    var integerValue: Int64? {
        switch self {
        case .int(let value): value
        case .double(let value) where value.rounded() == value && abs(value) < 9e18: Int64(value)
        default: nil
        }
    }

    var isNull: Bool { self == .null }

    /// Whether two values are the same JSON, treating `1` and `1.0` as equal.
    func sameJSON(as other: JSONValue) -> Bool {
        switch (self, other) {
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)): Double(a) == b
        case (.array(let a), .array(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.sameJSON(as: $1) }
        case (.object(let a), .object(let b)):
            a.count == b.count && a.allSatisfy { key, value in b[key].map { value.sameJSON(as: $0) } ?? false }
        default: self == other
        }
    }
}
