import CloudDriverSimulated
import DispatchModel
import Testing

/// ``JSONParser/shape(of:)`` accepts and refuses exactly what ``JSONParser/parse(_:maximumDepth:)`` does, and gives
/// the same value with its objects and arrays emptied.
@Suite("JSON shapes")
struct JSONParserShapeTests {
    static func value(_ random: inout SeededRandomNumberGenerator, depth: Int) -> String {
        switch Int.random(in: 0..<(depth > 0 ? 8 : 5), using: &random) {
        case 0: return ["\"\"", "\"a\\\"b\"", "\"\\u00e9\\n\"", "\"é\""].randomElement(using: &random)!
        case 1: return ["0", "-12", "3.5e7", "1E-2", "9223372036854775807", "1e999"].randomElement(using: &random)!
        case 2: return ["true", "false", "null"].randomElement(using: &random)!
        case 3: return "{}"
        case 4: return "[]"
        case 5, 6:
            let members = (0..<Int.random(in: 1...4, using: &random)).map { i in
                "\"k\(i)\" : \(Self.value(&random, depth: depth - 1))"
            }
            return "{" + members.joined(separator: ", ") + "}"
        default:
            let items = (0..<Int.random(in: 1...4, using: &random)).map { _ in Self.value(&random, depth: depth - 1) }
            return "[" + items.joined(separator: ",") + "]"
        }
    }

    /// `value` with every object and array emptied.
    static func emptied(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object: .object([:])
        case .array: .array([])
        default: value
        }
    }

    @Test("5,000 documents, half of them damaged: shape and parse agree on each")
    func agreesWithParse() {
        var random = SeededRandomNumberGenerator(seed: 18)
        var accepted = 0
        var refused = 0
        for round in 0..<5000 {
            var bytes = Array(Self.value(&random, depth: 4).utf8)
            if round % 2 == 1 {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[at] = Array("{}[]\",:\\ x0\u{7F}".utf8).randomElement(using: &random)!
                case 1: bytes.remove(at: at)
                default: bytes.removeSubrange(at...)
                }
            }
            let parsed = try? JSONParser.parse(bytes[...])
            let shape = try? JSONParser.shape(of: bytes[...])
            #expect(shape == parsed.map(Self.emptied), "\(String(decoding: bytes, as: UTF8.self))")
            if parsed == nil { refused += 1 } else { accepted += 1 }
        }
        // Both sides were exercised.
        #expect(accepted > 2500 && refused > 500)
    }

    @Test("A shape refuses what is not one JSON value, and nesting deeper than the parser allows")
    func refusals() {
        #expect((try? JSONParser.shape(of: Array(#"{"a":1} x"#.utf8)[...])) == nil)
        #expect((try? JSONParser.shape(of: Array(#"{"a":[1,}"#.utf8)[...])) == nil)
        let deep = Array((String(repeating: "[", count: 600) + String(repeating: "]", count: 600)).utf8)
        #expect((try? JSONParser.shape(of: deep[...])) == nil)
        #expect((try? JSONParser.shape(of: Array(#" {"Env":{"A":"b"}} "#.utf8)[...])) == .object([:]))
    }
}
