import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

@testable import ContainerAPIServer

/// The container's field-by-field JSON against the route it replaces: the generic encoder, then the timestamps
/// rewritten in microseconds.
@Suite("Container JSON")
struct ContainerJSONTests {
    /// What the store wrote before: `Container`'s `Encodable` conformance through ``JSONValueEncoder``, timestamps
    /// normalized by ``WireJSON/normalizeTimestamps(in:fields:)``.
    static func throughEncoder(_ container: Container) throws -> [String: JSONValue] {
        var object = try WireJSON.value(of: container).objectValue ?? [:]
        WireJSON.normalizeTimestamps(in: &object, fields: ["created_at", "modified_at", "started_at", "finished_at"])
        return object
    }

    /// The encoder test's random containers, with every other optional field and nested type filled in at random
    /// and timestamps at the edges of what RFC 3339 text holds.
    static func containers(count: Int, seed: UInt64) -> [Container] {
        var rng = FuzzRandom(seed: seed)
        let strings = ["", "plain", "quote \" \\ / \n\t", "é 漢字 \u{2028} 🎉"]
        let edges = ContainerJSON.readableYears
        let seconds: [Int64] = [
            0, -1, 1_700_000_000, edges.lowerBound, edges.lowerBound - 1, edges.upperBound, edges.upperBound + 1,
            Int64.max / 4, Int64.min / 4,
        ]
        let nanoseconds: [Int32] = [0, 1, 999, 1000, 999_999_999, 1_000_000_000, -1, Int32.max, Int32.min]
        func maybe<T>(_ value: T) -> T? { rng.next() % 2 == 0 ? nil : value }
        func time() -> Timestamp? {
            maybe(Timestamp(secondsSince1970: rng.pick(seconds), nanoseconds: rng.pick(nanoseconds)))
        }
        return JSONValueEncoderTests.randomContainers(count: count, seed: seed).map { original in
            var container = original
            container.createdAt = time()
            container.modifiedAt = time()
            container.startedAt = time()
            container.finishedAt = time()
            container.modifiedByUserUUID = maybe(rng.pick(strings))
            container.log = maybe(rng.pick(strings))
            container.output = maybe(rng.pick(strings))
            container.authUUID = maybe(rng.pick(strings))
            container.lockedByUUID = maybe(rng.pick(strings))
            container.runtimeUserUUID = maybe(rng.pick(strings))
            container.gatewayAddress = maybe(rng.pick(strings))
            container.runtimeAuthScopes = rng.next() % 2 == 0 ? [] : ["all", rng.pick(strings)]
            container.outputStorageClasses = ["default", rng.pick(strings)]
            container.outputGlob = rng.next() % 2 == 0 ? [] : ["*.txt"]
            container.interactiveSessionStarted = rng.next() % 2 == 0
            container.cwd = rng.pick(strings)
            container.outputPath = rng.pick(strings)
            container.containerImage = rng.pick(strings)
            container.runtimeConstraints.keepCacheRAM = Int64(bitPattern: rng.next())
            container.runtimeConstraints.keepCacheDisk = Int64(bitPattern: rng.next())
            container.runtimeConstraints.gpu = GPURuntimeConstraints(
                stack: rng.pick(["", "cuda", "rocm"]),
                driverVersion: rng.pick(strings),
                hardwareTarget: rng.next() % 2 == 0 ? [] : ["8.0", rng.pick(strings)],
                deviceCount: Int(bitPattern: UInt(rng.next())),
                vram: Int64(bitPattern: rng.next())
            )
            container.schedulingParameters = SchedulingParameters(
                partitions: rng.next() % 2 == 0 ? [] : [rng.pick(strings)],
                preemptible: rng.next() % 2 == 0,
                maxRunTime: Int(bitPattern: UInt(rng.next())),
                supervisor: rng.next() % 2 == 0
            )
            var mount = Mount(kind: "collection", capacity: Int64(bitPattern: rng.next()))
            mount.path = maybe(rng.pick(strings))
            mount.portableDataHash = maybe(rng.pick(strings))
            mount.uuid = maybe(rng.pick(strings))
            mount.writable = maybe(rng.next() % 2 == 0)
            mount.excludeFromOutput = maybe(rng.next() % 2 == 0)
            mount.content = maybe(original.runtimeStatus["error"] ?? .null)
            container.mounts["/keep"] = mount
            return container
        }
    }

    @Test("Containers write the object the generic encoder wrote, timestamps in microseconds")
    func sameAsTheEncoder() throws {
        var timestampsOutsideRFC3339 = 0
        for container in Self.containers(count: 500, seed: 27) {
            let expected = try Self.throughEncoder(container)
            #expect(try ContainerJSON.object(container) == expected, "\(container.uuid)")
            if let created = container.createdAt, !ContainerJSON.readableYears.contains(created.secondsSince1970) {
                timestampsOutsideRFC3339 += 1
            }
        }
        // The edges were met: timestamps written as the encoder's text because they cannot be read back.
        #expect(timestampsOutsideRFC3339 > 10)
    }

    @Test("With RFC 3339 timestamps (the runner's record), the object is the generic encoder's exactly")
    func runnerRecordSameAsTheEncoder() throws {
        for container in Self.containers(count: 300, seed: 31) {
            #expect(try container.jsonObject() == (try WireJSON.value(of: container).objectValue), "\(container.uuid)")
        }
    }

    @Test("A number that is not finite is an error naming its field, as through the encoder")
    func notFinite() {
        for value in [Double.nan, .infinity, -.infinity] {
            var container = Container(uuid: ContainerUUID(rawValue: "zzzzz-dz642-000000000000001"))
            container.cost = value
            #expect(throws: (any Error).self) { try Self.throughEncoder(container) }
            #expect(throws: ContainerJSON.NotFinite(field: "cost")) { try ContainerJSON.object(container) }
            container.cost = 0
            container.runtimeStatus = ["progress": .array([.double(value)])]
            #expect(throws: (any Error).self) { try Self.throughEncoder(container) }
            #expect(throws: ContainerJSON.NotFinite(field: "runtime_status")) { try ContainerJSON.object(container) }
        }
    }

    /// What the strict decoder the store used makes of `object`, `nil` where it does not take it (the store then
    /// decodes through `JSONDecoder`).
    static func strictly(_ object: [String: JSONValue]) -> Container? {
        try? JSONValueDecoder.decode(Container.self, from: .object(object))
    }

    @Test("Objects read back to the containers the strict decoder makes of them, and only where it takes them")
    func readsAsTheDecoder() throws {
        var read = 0
        for container in Self.containers(count: 300, seed: 28) {
            let object = try ContainerRules.object(container)
            let direct = ContainerJSON.container(object)
            #expect(direct == Self.strictly(object), "\(container.uuid)")
            if direct != nil { read += 1 }
        }
        // Most are read (the rest hold whole doubles in JSON attributes or years RFC 3339 text cannot hold).
        #expect(read > 50)
    }

    @Test("Attributes of other types are read as the strict decoder reads them, or left to it as it leaves them")
    func oddAttributes() throws {
        var rng = FuzzRandom(seed: 29)
        let odd: [JSONValue] = [
            .null, .bool(true), .int(-1), .int(Int64.max), .double(2.5), .double(3), .double(1e300), .string(""),
            .string("2026-12-06T19:00:00Z"), .string("Complete"), .array([]), .array([.string("a")]),
            .array([.int(1)]), .object([:]), .object(["k": .string("v")]), .object(["k": .double(1)]),
            .object(["vcpus": .string("x")]), .object(["/m": .object(["kind": .int(1)])]),
            .object(["gpu": .object(["vram": .double(1.5)])]), .object(["/m": .object(["content": .int(1)])]),
        ]
        let keys = ContainerRules.fields + ["kind", "href", "unknown"]
        var read = 0
        var left = 0
        for container in Self.containers(count: 400, seed: 30) {
            var object = try ContainerRules.object(container)
            for _ in 0..<Int(1 + rng.next() % 3) { object[rng.pick(keys)] = rng.pick(odd) }
            let direct = ContainerJSON.container(object)
            #expect(direct == Self.strictly(object), "\(object)")
            if direct == nil { left += 1 } else { read += 1 }
        }
        // Both ways were taken.
        #expect(read > 10)
        #expect(left > 100)
    }
}
