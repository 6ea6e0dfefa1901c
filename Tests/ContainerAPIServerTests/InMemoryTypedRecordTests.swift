import ArvadosAPI
import ContainerAPIServer
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

/// The in-memory API hands a client its container records as values (create, read, update, lock, unlock), with no
/// JSON in between; what a client gets that way, records and errors alike, must be what it gets through JSON.
@Suite("In-memory API typed records")
struct InMemoryTypedRecordTests {
    /// One step of a client: a record, or the error it failed with.
    enum Outcome: Equatable {
        case record(Container)
        case failure(code: String, status: Int?, message: String)
    }

    static func outcome(_ call: () async throws(ArvadosAPIError) -> Container) async -> Outcome {
        do {
            return .record(try await call())
        } catch {
            return .failure(code: "\(error.code)", status: error.status, message: error.message)
        }
    }

    /// A JSON value for `runtime_status`, with the numbers whose JSON text decodes otherwise than they were sent
    /// (a whole double is written as an integer).
    static func value(_ random: inout FuzzRandom, depth: Int = 0) -> JSONValue {
        switch random.next() % (depth < 2 ? 9 : 6) {
        case 0: return .null
        case 1: return .bool(random.next() % 2 == 0)
        case 2: return .int(Int64(bitPattern: random.next()) >> Int64(random.next() % 64))
        case 3: return .double(Double(Int64(random.next() % 2000)) - 1000)
        case 4: return .double(random.pick([0.5, -2.25, 1e-7, 3.141592653589793, 1e18, 1e300, 0.1 + 0.2]))
        case 5: return .string(random.pick(["", "a", "é", "line\nbreak", "\u{0}", "quote\"s"]))
        case 6, 7:
            return .array((0..<Int(random.next() % 4)).map { _ in Self.value(&random, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for key in 0..<Int(random.next() % 4) { members["k\(key)"] = Self.value(&random, depth: depth + 1) }
            return .object(members)
        }
    }

    /// A patch a runner, a dispatcher or a careless client might send.
    static func patch(_ random: inout FuzzRandom) -> [String: JSONValue] {
        switch random.next() % 9 {
        case 0: return ["state": .string("Running")]
        case 1:
            return ["state": .string("Complete"), "exit_code": .int(Int64(random.next() % 3)), "progress": .double(1)]
        case 2: return ["state": .string("Cancelled")]
        case 3: return ["priority": .int(Int64(random.next() % 1000))]
        case 4: return ["runtime_status": .object(["detail": Self.value(&random), "n": Self.value(&random)])]
        case 5: return ["progress": .double(Double(random.next() % 100) / 7), "cost": .int(Int64(random.next() % 9))]
        case 6: return ["output": .string("out-\(random.next() % 9)"), "log": .string("log-\(random.next() % 9)")]
        case 7: return ["priority": .string("high")]
        default: return ["no_such_attribute": .int(1)]
        }
    }

    @Test("Creates, reads, updates, locks and unlocks give the same records and errors typed as through JSON")
    func sameAsJSON() async throws {
        let time: @Sendable (Int64) -> Timestamp = { n in
            Timestamp(secondsSince1970: 1_800_000_000 + n, nanoseconds: Int32(n * 123_456_789 % 1_000_000_000))
        }
        let typedAPI = InMemoryTypedListTests.api(time: time)
        let jsonAPI = InMemoryTypedListTests.api(time: time)
        let url = URL(string: "http://in-memory.invalid/")!
        let root = InMemoryTypedListTests.root
        let typed = ArvadosClient(baseURL: url, token: root, transport: typedAPI)
        let json = ArvadosClient(baseURL: url, token: root, transport: InMemoryTypedListTests.JSONOnly(api: jsonAPI))
        var random = FuzzRandom(seed: 25)
        var uuids: [ContainerUUID] = [ContainerUUID(rawValue: "zzzzz-dz642-zzzzzzzzzzzzzzz")]
        var records = 0
        var failures = 0
        for step in 0..<1500 {
            let uuid = random.pick(uuids)
            let operation = step < 10 ? 0 : random.next() % 7
            let attributes: [String: JSONValue] = [
                "command": .array([.string("true")]), "container_image": .string("image"),
                "output_path": .string("/out"), "priority": .int(Int64(random.next() % 3)),
                "runtime_constraints": .object([
                    "vcpus": random.next() % 10 == 0 ? .int(-1) : .int(Int64(1 + random.next() % 4)),
                    "ram": .int(1 << 28),
                ]),
            ]
            let patch = Self.patch(&random)
            let call: (ArvadosClient) async throws(ArvadosAPIError) -> Container
            switch operation {
            case 0: call = { client async throws(ArvadosAPIError) in try await client.createContainer(attributes) }
            case 1: call = { client async throws(ArvadosAPIError) in try await client.container(uuid) }
            case 2: call = { client async throws(ArvadosAPIError) in try await client.lockContainer(uuid) }
            case 3: call = { client async throws(ArvadosAPIError) in try await client.unlockContainer(uuid) }
            case 4:
                call = { client async throws(ArvadosAPIError) in
                    try await client.unlockContainer(uuid, requeueRunning: true)
                }
            case 5:
                call = { client async throws(ArvadosAPIError) in try await client.container(uuid, select: ["uuid"]) }
            default: call = { client async throws(ArvadosAPIError) in try await client.updateContainer(uuid, patch) }
            }
            let viaValues = await Self.outcome { () async throws(ArvadosAPIError) in try await call(typed) }
            let viaJSON = await Self.outcome { () async throws(ArvadosAPIError) in try await call(json) }
            #expect(viaValues == viaJSON, "step \(step): operation \(operation) on \(uuid) \(patch)")
            switch viaValues {
            case .record(let container):
                records += 1
                if operation == 0 { uuids.append(container.uuid) }
            case .failure: failures += 1
            }
        }
        // Both kinds of answer were compared, many times over, and each call was one request.
        #expect(records > 300 && failures > 300, "\(records) records, \(failures) failures")
        #expect(await typedAPI.requestCount == 1500)
        #expect(await jsonAPI.requestCount == 1500)
    }
}
