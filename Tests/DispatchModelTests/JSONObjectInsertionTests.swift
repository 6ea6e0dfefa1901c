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

    @Test("Into the empty object")
    func emptyObject() {
        let (bytes, insertion) = JSONValue.objectBytes([:], insertionPointOf: "etag")
        #expect(bytes == Array("{}".utf8))
        #expect(JSONValue.inserting("etag", .int(1), into: bytes, at: insertion) == Array(#"{"etag":1}"#.utf8))
    }
}
