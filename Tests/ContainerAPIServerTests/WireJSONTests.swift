import DispatchModel
import Foundation
import Testing

@testable import ContainerAPIServer

/// The store's JSON writer against Foundation's `JSONEncoder`, whose output (sorted keys, slashes unescaped) it
/// replaces byte for byte.
@Suite("Wire JSON")
struct WireJSONTests {
    static func foundation(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static let samples: [JSONValue] = [
        .null, .bool(true), .bool(false), .int(0), .int(-42), .int(Int64.max), .int(Int64.min),
        .double(1.5), .double(1.0), .double(-0.0), .double(0.1), .double(1e20), .double(1e-7), .double(123456789.123),
        .double(Double.leastNonzeroMagnitude), .double(1.7976931348623157e308),
        .string(""), .string("plain"), .string("quote \" backslash \\ slash / newline \n tab \t"),
        .string("controls \u{0}\u{1}\u{8}\u{b}\u{c}\u{d}\u{1f} del \u{7f}"), .string("é 漢字 \u{2028} 🎉"),
        .array([]), .array([.int(1), .string("two"), .null, .array([.bool(false)])]),
        .object([:]),
        .object([
            "b": .int(1), "B": .int(2), "a10": .int(3), "a9": .int(4), "_x": .int(5), "Z": .null, "é": .int(6),
            "e": .int(7), "A_b": .int(8), "Ab": .object(["nested": .array([.double(2.5)]), "Nested": .string("x")]),
        ]),
    ]

    @Test("Every kind of value is written exactly as JSONEncoder writes it", arguments: WireJSONTests.samples)
    func matchesFoundation(_ value: JSONValue) throws {
        #expect(WireJSON.string(value) == (try Self.foundation(value)))
    }

    @Test("A stored container document is written exactly as JSONEncoder writes it")
    func containerDocument() throws {
        var container = Container(uuid: ContainerUUID(rawValue: "zzzzz-dz642-000000000000001"))
        container.command = ["sh", "-c", "echo \"$GREETING\" > /tmp/out"]
        container.environment = ["GREETING": "hello", "path": "/usr/bin"]
        container.runtimeStatus = ["error": .string("line one\nline two"), "progress": .double(0.25)]
        let value = try WireJSON.value(of: container)
        #expect(WireJSON.string(value) == (try Self.foundation(value)))
    }
}
