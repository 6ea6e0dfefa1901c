import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

@testable import ContainerAPIServer

/// The direct encoder against the route it replaces: `JSONEncoder`'s text read back by the store's parser.
@Suite("JSON value encoder")
struct JSONValueEncoderTests {
    static func throughText<T: Encodable>(_ value: T) throws -> JSONValue {
        try WireJSON.parse(JSONEncoder().encode(value))
    }

    /// Containers with every field set to values drawn at random, numbers at their edges among them.
    static func randomContainers(count: Int, seed: UInt64) -> [Container] {
        var rng = FuzzRandom(seed: seed)
        let doubles: [Double] = [
            0, -0.0, 1, 1.5, 0.1, -2.25, 1e15, 1e16, 1e20, 1e-7, 9_007_199_254_740_992, 0x1p63, -0x1p63, 0x1p62 + 1024,
            Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude, 123_456_789.123,
        ]
        let strings = ["", "plain", "quote \" \\ / \n\t", "é 漢字 \u{2028} 🎉", "\u{0}\u{1f}"]
        func pick<T>(_ values: [T]) -> T { rng.pick(values) }
        func json(_ depth: Int) -> JSONValue {
            switch rng.next() % (depth > 2 ? 5 : 7) {
            case 0: return .null
            case 1: return .bool(rng.next() % 2 == 0)
            case 2: return .int(Int64(bitPattern: rng.next()) >> (rng.next() % 64))
            case 3: return .double(pick(doubles))
            case 4: return .string(pick(strings))
            case 5: return .array((0..<Int(rng.next() % 4)).map { _ in json(depth + 1) })
            default:
                return .object(
                    Dictionary((0..<Int(rng.next() % 4)).map { ("k\($0)", json(depth + 1)) }) { a, _ in a }
                )
            }
        }
        return (0..<count).map { n in
            var container = Container(uuid: ContainerUUID(rawValue: "zzzzz-dz642-\(String(format: "%015d", n))"))
            container.etag = rng.next() % 2 == 0 ? nil : pick(strings)
            container.ownerUUID = pick(strings)
            container.createdAt = Timestamp(
                secondsSince1970: Int64(rng.next() % (1 << 33)),
                nanoseconds: Int32(rng.next() % 1_000_000_000)
            )
            container.startedAt = rng.next() % 2 == 0 ? nil : Timestamp(secondsSince1970: -Int64(rng.next() % 1000))
            container.state = pick([.queued, .locked, .running, .complete, .cancelled])
            container.environment = ["A": pick(strings), pick(strings): "b"]
            container.command = [pick(strings), pick(strings)]
            container.mounts = [
                "/out": Mount(kind: "tmp", capacity: Int64(bitPattern: rng.next())),
                "/in": {
                    var mount = Mount(kind: "json")
                    mount.content = json(0)
                    return mount
                }(),
            ]
            container.runtimeConstraints = RuntimeConstraints(
                vcpus: Int(bitPattern: UInt(rng.next())),
                ram: Int64(bitPattern: rng.next()),
                api: rng.next() % 2 == 0
            )
            container.progress = rng.next() % 2 == 0 ? nil : pick(doubles)
            container.priority = Int(bitPattern: UInt(rng.next())) >> (rng.next() % 64)
            container.exitCode = rng.next() % 2 == 0 ? nil : Int(Int32(truncatingIfNeeded: rng.next()))
            container.runtimeStatus = ["error": json(0), "warning": json(1)]
            container.outputProperties = ["p": json(0)]
            container.publishedPorts = ["80": json(0)]
            container.cost = pick(doubles)
            container.subrequestsCost = pick(doubles)
            container.lockCount = Int(rng.next() % 10)
            container.service = rng.next() % 2 == 0
            return container
        }
    }

    @Test("Containers encode to the value JSONEncoder's text parses to")
    func containersMatchTheTextRoute() throws {
        for container in Self.randomContainers(count: 300, seed: 18) {
            #expect(try JSONValueEncoder.encode(container) == (try Self.throughText(container)))
        }
    }

    @Test("Numbers, arrays and nested values encode as through the text", arguments: [0, 1, 2, 3, 4, 5])
    func valuesMatchTheTextRoute(_ which: Int) throws {
        switch which {
        case 0:
            let doubles: [Double] = [1.0, -0.0, 0.5, 1e300, 0x1p63, -0x1p63, 0x1p63 - 1024, .leastNonzeroMagnitude]
            #expect(try JSONValueEncoder.encode(doubles) == (try Self.throughText(doubles)))
        case 1:
            let floats: [Float] = [0.1, 1, 16_777_216, 3.4e38, .leastNonzeroMagnitude, 1.1754944e-38]
            #expect(try JSONValueEncoder.encode(floats) == (try Self.throughText(floats)))
        case 2:
            let integers: [UInt64] = [0, UInt64(Int64.max), UInt64(Int64.max) + 1, .max]
            #expect(try JSONValueEncoder.encode(integers) == (try Self.throughText(integers)))
        case 3:
            let nested: [String: [[Int8?]]] = ["a": [[1, nil], []], "b": []]
            #expect(try JSONValueEncoder.encode(nested) == (try Self.throughText(nested)))
        case 4:
            let special = Special(data: Data([0, 1, 2, 250]), url: URL(string: "https://example.com/a?b=c")!)
            #expect(try JSONValueEncoder.encode(special) == (try Self.throughText(special)))
        default:
            let shapes = Shapes()
            #expect(try JSONValueEncoder.encode(shapes) == (try Self.throughText(shapes)))
        }
    }

    @Test("A number that is not finite is an error, as JSONEncoder's")
    func nonFiniteNumbersFail() {
        #expect(throws: EncodingError.self) { try JSONValueEncoder.encode([1.0, .nan]) }
        #expect(throws: EncodingError.self) { try JSONValueEncoder.encode(["x": Double.infinity]) }
        #expect(throws: (any Error).self) { try JSONEncoder().encode([1.0, .nan]) }
    }

    @Test("A value that encodes nothing is an empty object inside, an error at the top")
    func emptyValues() throws {
        #expect(try JSONValueEncoder.encode(["a": Nothing()]) == .object(["a": .object([:])]))
        #expect(try Self.throughText(["a": Nothing()]) == .object(["a": .object([:])]))
        #expect(throws: EncodingError.self) { try JSONValueEncoder.encode(Nothing()) }
    }

    private struct Special: Encodable {
        var data: Data
        var url: URL
    }

    private struct Nothing: Encodable {
        func encode(to encoder: any Encoder) throws {}
    }

    /// Nested and super containers of every kind, as hand-written `encode(to:)` methods use them.
    private struct Shapes: Encodable {
        enum Keys: String, CodingKey { case a, b, c, d }

        func encode(to encoder: any Encoder) throws {
            var keyed = encoder.container(keyedBy: Keys.self)
            try keyed.encode(1.5, forKey: .a)
            var nested = keyed.nestedContainer(keyedBy: Keys.self, forKey: .b)
            try nested.encodeNil(forKey: .a)
            try nested.encode(UInt8(7), forKey: .c)
            var list = keyed.nestedUnkeyedContainer(forKey: .c)
            try list.encode(true)
            try list.encode("x")
            var inner = list.nestedContainer(keyedBy: Keys.self)
            try inner.encode(Float(0.25), forKey: .d)
            var deeper = list.nestedUnkeyedContainer()
            try deeper.encodeNil()
            var fromSuper = list.superEncoder().singleValueContainer()
            try fromSuper.encode(Int16(-3))
            var superKeyed = keyed.superEncoder().container(keyedBy: Keys.self)
            try superKeyed.encode("s", forKey: .a)
            var superForKey = keyed.superEncoder(forKey: .d).unkeyedContainer()
            try superForKey.encode(UInt32.max)
        }
    }
}
