import ArvadosAPI
import ContainerAPIServer
import DispatchModel
import DispatchTestSupport
import Foundation
import Synchronization
import Testing

/// The in-memory API answers the queue's polls with values (no JSON); what it answers must be what the JSON
/// list gives after decoding, for every filter, order and page the queue uses.
@Suite("In-memory API typed lists")
struct InMemoryTypedListTests {
    /// Sends every request as HTTP, hiding the typed path.
    struct JSONOnly: ArvadosTransport {
        let api: InMemoryContainerAPI
        func send(_ request: ArvadosHTTPRequest) async throws(ArvadosAPIError) -> ArvadosHTTPResponse {
            try await self.api.send(request)
        }
    }

    static let root = "typed-list-root-token"
    static let polled = [
        "uuid", "state", "priority", "runtime_constraints", "container_image", "scheduling_parameters",
        "created_at", "locked_by_uuid",
    ]

    /// An empty API whose wall clock reads `time(n)` at its `n`th reading (from 1).
    static func api(time: @escaping @Sendable (Int64) -> Timestamp) -> InMemoryContainerAPI {
        let tick = Mutex(Int64(0))
        return InMemoryContainerAPI(
            clusterID: "zzzzz",
            systemRootToken: Self.root,
            submitterTokens: ["submitter"],
            wallClock: {
                time(
                    tick.withLock { value in
                        value += 1
                        return value
                    }
                )
            }
        )
    }

    /// An API with containers in several states, priorities and shapes, at fractional-second times.
    static func populated() async throws -> (InMemoryContainerAPI, ArvadosClient, ArvadosClient) {
        let api = Self.api { n in
            Timestamp(secondsSince1970: 1_800_000_000 + n, nanoseconds: Int32(n * 123_456_789 % 1_000_000_000))
        }
        let url = URL(string: "http://in-memory.invalid/")!
        let typed = ArvadosClient(baseURL: url, token: Self.root, transport: api)
        let json = ArvadosClient(baseURL: url, token: Self.root, transport: JSONOnly(api: api))
        for i in 0..<40 {
            var attributes: [String: JSONValue] = [
                "command": .array([.string("true")]),
                "container_image": .string("image-\(i % 3)"),
                "output_path": .string("/out"),
                "priority": .int(Int64(i % 7 == 0 ? 0 : 1 + i % 5)),
                "runtime_constraints": .object(["vcpus": .int(Int64(1 + i % 4)), "ram": .int(Int64(1 + i) << 28)]),
            ]
            if i % 4 == 0 { attributes["scheduling_parameters"] = .object(["preemptible": .bool(true)]) }
            let created = try await api.create(attributes, token: "submitter")
            if i % 3 == 0 && i % 7 != 0 { _ = try await typed.lockContainer(created.uuid) }
            if i % 9 == 0 && i % 7 != 0 {
                let running: [String: JSONValue] = ["state": .string("Running")]
                _ = try await typed.updateContainer(created.uuid, running)
            }
        }
        return (api, typed, json)
    }

    @Test("A `uuid in` list naming a container twice gives it once; the state index never repeats one")
    func repeatedUUIDs() async throws {
        let (_, typed, _) = try await Self.populated()
        let queued = try await typed.containers(
            filters: [ArvadosFilter("state", "=", .string("Queued"))],
            limit: 1000,
            count: "exact"
        )
        let uuid = try #require(queued.items.first?.uuid)
        #expect(Set(queued.items.map(\.uuid)).count == queued.items.count)
        let twice = try await typed.containers(
            filters: [ArvadosFilter("uuid", "in", .array([.string(uuid.rawValue), .string(uuid.rawValue)]))],
            limit: 1000,
            count: "exact"
        )
        #expect(twice.items.map(\.uuid) == [uuid])
        #expect(twice.itemsAvailable == 1)
    }

    @Test("The queue's lists give the same records typed as through JSON")
    func sameAsJSON() async throws {
        let (api, typed, json) = try await Self.populated()
        let me = try await typed.currentAuthorization().uuid
        let queries: [([ArvadosFilter], [String], Int, Int?)] = [
            ([ArvadosFilter("locked_by_uuid", "=", .string(me))], ["uuid"], 1000, nil),
            ([ArvadosFilter("locked_by_uuid", "=", .string(me))], ["uuid"], 5, nil),
            (
                [ArvadosFilter("state", "=", .string("Queued")), ArvadosFilter("priority", ">", .int(0))],
                ["priority desc", "uuid"], 7, 3
            ),
            ([ArvadosFilter("uuid", "in", .array([.string("zzzzz-dz642-000000000000005")]))], ["uuid"], 20, nil),
            ([], ["created_at desc"], 1000, nil),
        ]
        for (filters, order, limit, offset) in queries {
            let viaJSON = try await json.containers(
                filters: filters,
                order: order,
                limit: limit,
                offset: offset,
                select: Self.polled,
                count: "none"
            )
            let viaValues = try await typed.containers(
                filters: filters,
                order: order,
                limit: limit,
                offset: offset,
                select: Self.polled,
                count: "none"
            )
            #expect(!viaJSON.items.isEmpty)
            #expect(viaValues.items == viaJSON.items, "\(filters) \(order)")
            #expect(viaValues.itemsAvailable == viaJSON.itemsAvailable)
        }
        // A typed list is a request like any other.
        let before = await api.requestCount
        _ = try await typed.containers(select: Self.polled, count: "none")
        #expect(await api.requestCount == before + 1)
    }

    @Test("A `modified_at` bound lists what a full list filtered by it gives, though the clock steps back")
    func modifiedSinceIndex() async throws {
        // Each reading a millisecond on, but every fifth 3.5 ms back.
        let api = Self.api { n in
            let micros = 1_800_000_000_000_000 + n * 1000 - (n % 5 == 0 ? 3500 : 0)
            return Timestamp(secondsSince1970: micros / 1_000_000, nanoseconds: Int32(micros % 1_000_000 * 1000))
        }
        let client = ArvadosClient(
            baseURL: URL(string: "http://in-memory.invalid/")!,
            token: Self.root,
            transport: api
        )
        var uuids: [ContainerUUID] = []
        for i in 0..<30 {
            let attributes: [String: JSONValue] = [
                "command": .array([.string("true")]), "container_image": .string("image"),
                "output_path": .string("/out"), "priority": .int(Int64(1 + i % 3)),
                "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(1 << 28)]),
            ]
            uuids.append(try await api.create(attributes, token: "submitter").uuid)
        }
        var random = FuzzRandom(seed: 7)
        // Enough changes that the index drops its old entries more than once on the way.
        for step in 0..<2500 {
            let uuid = uuids[Int(random.next() % UInt64(uuids.count))]
            if step % 97 == 0 {
                _ = try? await client.lockContainer(uuid)
            } else {
                _ = try await client.updateContainer(uuid, ["priority": .int(Int64(1 + random.next() % 9))])
            }
            guard step % 250 == 0 || step == 2499 else { continue }
            let all = try await client.containers(limit: 1000).items
            #expect(all.count == uuids.count)
            let times = all.compactMap(\.modifiedAt).sorted()
            for bound in [times[0], times[times.count / 2], times[times.count - 3], times[times.count - 1]] {
                for op in [">=", ">"] {
                    let listed = try await client.containers(
                        filters: [ArvadosFilter("modified_at", op, .string(bound.rfc3339))],
                        limit: 1000
                    )
                    let expected = all.filter { op == ">=" ? $0.modifiedAt! >= bound : $0.modifiedAt! > bound }
                    #expect(Set(listed.items.map(\.uuid)) == Set(expected.map(\.uuid)), "\(op) \(bound)")
                    #expect(listed.items.count == expected.count, "no container twice")
                    let queued = try await client.containers(
                        filters: [
                            ArvadosFilter("state", "=", .string("Queued")),
                            ArvadosFilter("modified_at", op, .string(bound.rfc3339)),
                        ],
                        limit: 1000
                    )
                    #expect(Set(queued.items.map(\.uuid)) == Set(expected.filter { $0.state == .queued }.map(\.uuid)))
                }
            }
        }
    }

    @Test("A refused typed list fails as the JSON one does")
    func errorsAsJSON() async throws {
        let (api, _, _) = try await Self.populated()
        let url = URL(string: "http://in-memory.invalid/")!
        let stranger = ArvadosClient(baseURL: url, token: "not-a-token", transport: api)
        await #expect(throws: ArvadosAPIError.self) { try await stranger.containers(select: Self.polled) }
        let badFilter = ArvadosClient(baseURL: url, token: Self.root, transport: api)
        do {
            _ = try await badFilter.containers(filters: [ArvadosFilter("command", "=", .string("x"))], select: ["uuid"])
            Issue.record("a filter on an unfilterable attribute was accepted")
        } catch {
            #expect(error.status == 422)
        }
    }
}
