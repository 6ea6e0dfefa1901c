import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

@testable import ContainerAPIServer

/// The direct decoder against the route it stands in for: the value's JSON text decoded by `JSONDecoder`. Where
/// the direct decoder takes a value it must give what `JSONDecoder` gives; what it does not take goes through
/// `JSONDecoder` (``WireJSON/decode(_:from:)``), errors and all.
@Suite("JSON value decoder")
struct JSONValueDecoderTests {
    static func throughText<T: Decodable>(_ type: T.Type, _ value: JSONValue) -> Result<T, any Error> {
        Result { try JSONDecoder().decode(type, from: Data(value.jsonBytes)) }
    }

    /// Values that decode otherwise than their kind suggests, or not at all.
    static func awkward(_ rng: inout FuzzRandom) -> JSONValue {
        rng.pick([
            .null, .bool(true), .int(0), .int(-1), .int(Int64.max), .int(Int64.min), .double(0.5), .double(-2.25),
            .double(0x1p63), .double(1e300), .double(-0x1p64), .string(""), .string("12"), .string("true"),
            .string("2026-01-01T00:00:00Z"), .string("Running"), .array([]), .array([.int(1), .null]),
            .array([.string("a")]), .object([:]), .object(["vcpus": .int(2)]), .object(["k": .double(0x1p70)]),
        ])
    }

    @Test("Stored containers decode directly, to what JSONDecoder makes of their text")
    func storedContainers() throws {
        var direct = 0
        for container in JSONValueEncoderTests.randomContainers(count: 300, seed: 25) {
            let value = try JSONValueEncoder.encode(container)
            let expected = try Self.throughText(Container.self, value).get()
            // Those whose JSON fields hold whole doubles beyond Int64 are left to JSONDecoder.
            guard let decoded = try? JSONValueDecoder.decode(Container.self, from: value) else { continue }
            direct += 1
            #expect(decoded == expected)
        }
        #expect(direct > 100, "\(direct) of 300 decoded directly")
        // A record as the API stores one, with a runner's updates, always does.
        var container = Container(uuid: "zzzzz-dz642-000000000000001")
        container.createdAt = Timestamp(secondsSince1970: 1_800_000_000, nanoseconds: 123_456_000)
        container.state = .complete
        container.command = ["echo", "hello"]
        container.mounts = ["/out": Mount(kind: "tmp", capacity: 1 << 30)]
        container.runtimeConstraints = RuntimeConstraints(vcpus: 2, ram: 1 << 30)
        container.schedulingParameters.maxRunTime = 3600
        container.runtimeStatus = ["error": .string("oops"), "n": .int(3), "ratio": .double(0.25)]
        container.progress = 1
        container.exitCode = 0
        container.cost = 0.75
        let value = try JSONValueEncoder.encode(container)
        #expect(try JSONValueDecoder.decode(Container.self, from: value) == container)
    }

    @Test("Containers with awkward fields: a direct decode is JSONDecoder's, and the rest gets JSONDecoder's answer")
    func awkwardContainers() throws {
        var rng = FuzzRandom(seed: 2025)
        let fields = ContainerRules.fields + ["runtime_constraints.vcpus", "mounts./in.content", "unknown"]
        var direct = 0
        var fallback = 0
        for (n, container) in JSONValueEncoderTests.randomContainers(count: 400, seed: 7).enumerated() {
            guard case .object(var members) = try JSONValueEncoder.encode(container) else {
                Issue.record("a container encoded to a non-object")
                continue
            }
            for _ in 0..<(1 + n % 3) {
                let field = rng.pick(fields)
                let parts = field.split(separator: ".").map(String.init)
                if parts.count == 1 {
                    members[field] = rng.next() % 5 == 0 ? nil : Self.awkward(&rng)
                } else if case .object(var inner) = members[parts[0]] ?? .null {
                    if parts.count == 2 {
                        inner[parts[1]] = Self.awkward(&rng)
                    } else if case .object(var mount) = inner[parts[1]] ?? .null {
                        mount[parts[2]] = Self.awkward(&rng)
                        inner[parts[1]] = .object(mount)
                    }
                    members[parts[0]] = .object(inner)
                }
            }
            let value = JSONValue.object(members)
            let expected = Self.throughText(Container.self, value)
            if let decoded = try? JSONValueDecoder.decode(Container.self, from: value) {
                direct += 1
                #expect(decoded == (try? expected.get()), "\(value)")
            } else {
                fallback += 1
            }
            // What callers use answers as JSONDecoder does, value or error.
            switch (Result { try WireJSON.decode(Container.self, from: value) }, expected) {
            case (.success(let a), .success(let b)): #expect(a == b)
            case (.failure(let a), .failure(let b)): #expect("\(a)" == "\(b)")
            default: Issue.record("WireJSON.decode and JSONDecoder disagree on \(value)")
            }
        }
        // Both routes were taken many times.
        #expect(direct > 50 && fallback > 50, "\(direct) direct, \(fallback) through JSONDecoder")
    }

    @Test("JSON values decode as JSONDecoder reads their text, whole doubles left to it")
    func jsonValues() throws {
        var rng = FuzzRandom(seed: 99)
        for _ in 0..<2000 {
            var value = Self.awkward(&rng)
            if rng.next() % 2 == 0 { value = .object(["a": value, "b": .array([Self.awkward(&rng), value])]) }
            let expected = try Self.throughText(JSONValue.self, value).get()
            if let decoded = try? JSONValueDecoder.decode(JSONValue.self, from: value) {
                #expect(decoded == expected, "\(value)")
            }
            #expect(try WireJSON.decode(JSONValue.self, from: value) == expected)
            let list = JSONValue.array([value, .int(3)])
            if let decoded = try? JSONValueDecoder.decode([JSONValue].self, from: list) {
                #expect(decoded == (try Self.throughText([JSONValue].self, list).get()))
            }
        }
        // A whole double's text is an integer's: left to JSONDecoder, which reads it as one.
        #expect(throws: JSONValueDecoder.Unsupported.self) {
            try JSONValueDecoder.decode(JSONValue.self, from: .object(["k": .double(0x1p70)]))
        }
    }

    @Test("Numbers: integers in range only, doubles from either kind")
    func numbers() throws {
        #expect(try JSONValueDecoder.decode(Int8.self, from: .int(-128)) == -128)
        #expect(throws: JSONValueDecoder.Unsupported.self) { try JSONValueDecoder.decode(Int8.self, from: .int(128)) }
        #expect(throws: JSONValueDecoder.Unsupported.self) { try JSONValueDecoder.decode(UInt.self, from: .int(-1)) }
        #expect(throws: JSONValueDecoder.Unsupported.self) { try JSONValueDecoder.decode(Int.self, from: .double(2.5)) }
        #expect(throws: JSONValueDecoder.Unsupported.self) { try JSONValueDecoder.decode(Float.self, from: .int(1)) }
        #expect(try JSONValueDecoder.decode(Double.self, from: .int(9_007_199_254_740_993)) == 9_007_199_254_740_992)
        for value: JSONValue in [.int(Int64.max), .int(-7), .double(0.1), .double(1e300), .double(-0x1p64)] {
            #expect(
                try JSONValueDecoder.decode(Double.self, from: value)
                    == (try Self.throughText(Double.self, value).get())
            )
        }
    }
}
