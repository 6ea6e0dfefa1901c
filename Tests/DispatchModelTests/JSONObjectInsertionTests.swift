import DispatchModel
import Testing

/// An object written once without a member, with that member put in afterwards, is byte for byte the object
/// written with it (the stored containers' etags are digests of their documents without the etag).
@Suite("JSON member insertion")
struct JSONObjectInsertionTests {
    static let keys = ["", "a", "b", "etag", "etag2", "eta", "exit_code", "z", "é", "\u{1}", "A", "kind"]

    @Test("Any key into any object of other keys gives the object's bytes with it")
    func insertionMatchesWholeWrite() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let key = Self.keys.randomElement(using: &generator)!
            var members: [String: JSONValue] = [:]
            for other in Self.keys where other != key && Bool.random(using: &generator) {
                members[other] = [
                    .null, .int(-7), .string("x\"y"), .array([.bool(true)]), .object(["etag": .int(1)]),
                ].randomElement(using: &generator)!
            }
            let value = JSONValue.string("v\\1")
            let (bytes, insertion) = JSONValue.objectBytes(members, insertionPointOf: key)
            #expect(bytes == JSONValue.object(members).jsonBytes)
            var whole = members
            whole[key] = value
            #expect(
                JSONValue.inserting(key, value, into: bytes, at: insertion) == JSONValue.object(whole).jsonBytes,
                "\(key) into \(members.keys.sorted())"
            )
        }
    }

    @Test("An object written through a layout is written as without one, whether its keys fit the layout or not")
    func layoutMatchesPlainWrite() {
        var generator = SystemRandomNumberGenerator()
        var fitted = 0
        for _ in 0..<2000 {
            let layoutKeys = Self.keys.filter { _ in Int.random(in: 0..<4, using: &generator) > 0 }
            let layout = JSONValue.ObjectLayout(keys: layoutKeys)
            let key = Self.keys.randomElement(using: &generator)!
            var members: [String: JSONValue] = [:]
            // Half the time the layout's keys (less the one to insert), else any keys (some the same in number).
            let fitting = Bool.random(using: &generator)
            let chosen = fitting ? layoutKeys : Self.keys.filter { _ in Int.random(in: 0..<4, using: &generator) > 0 }
            for other in chosen where other != key {
                members[other] = [.null, .int(3), .string("q\"\u{7}"), .object(["b": .null, "a": .bool(false)])]
                    .randomElement(using: &generator)!
            }
            if layout.fits(members) { fitted += 1 }
            let plain = JSONValue.objectBytes(members, insertionPointOf: key)
            let laidOut = JSONValue.objectBytes(members, layout: layout, insertionPointOf: key)
            #expect(laidOut.bytes == plain.bytes, "\(members.keys.sorted()) through \(layoutKeys)")
            #expect(laidOut.insertion == plain.insertion, "\(key) into \(members.keys.sorted())")
        }
        #expect(fitted > 200)
    }

    @Test("Strings with and without characters to escape")
    func escaping() {
        let texts = ["plain", "", "quote\"", "back\\slash", "tab\t", "\u{0}\u{1F}", "é ü 😀", "/slash", "\u{7F}"]
        let written = texts.map { String(decoding: JSONValue.string($0).jsonBytes, as: UTF8.self) }
        let expected = [
            #""plain""#, #""""#, #""quote\"""#, #""back\\slash""#, #""tab\t""#, #""\u0000\u001f""#, "\"é ü 😀\"",
            #""/slash""#, "\"\u{7F}\"",
        ]
        #expect(written == expected)
    }

    @Test("Into the empty object")
    func emptyObject() {
        let (bytes, insertion) = JSONValue.objectBytes([:], insertionPointOf: "etag")
        #expect(bytes == Array("{}".utf8))
        #expect(JSONValue.inserting("etag", .int(1), into: bytes, at: insertion) == Array(#"{"etag":1}"#.utf8))
    }
}
