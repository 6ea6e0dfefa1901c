import DispatchModel
import Foundation
import Synchronization
import Testing

@testable import ContainerAPIServer

/// The dispatcher's and clients' list calls must stay index walks at 100,000 containers; these tests read SQLite's
/// plans.
@Suite("Container list query plans")
struct ListQueryPlanTests {
    static let lockHolder = Caller.systemRoot(cluster: "zzzzz").tokenUUID

    /// A list call of the dispatcher or a client, and the index its plan must walk in the call's order.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var parameters: [String: JSONValue]
        var index: String
        var testDescription: String { self.name }
    }

    static let cases: [Case] = [
        Case(
            name: "locked by a token, first page by UUID",
            parameters: [
                "filters": .array([.array([.string("locked_by_uuid"), .string("="), .string(Self.lockHolder)])]),
                "order": .array([.string("uuid")]),
                "limit": .int(1000),
            ],
            index: "containers_locked_by_uuid_uuid"
        ),
        Case(
            name: "locked by a token, next page after a UUID",
            parameters: [
                "filters": .array([
                    .array([.string("locked_by_uuid"), .string("="), .string(Self.lockHolder)]),
                    .array([.string("uuid"), .string(">"), .string("zzzzz-dz642-000000000000000")]),
                ]),
                "order": .array([.string("uuid")]),
                "limit": .int(1000),
            ],
            index: "containers_locked_by_uuid_uuid"
        ),
        Case(
            name: "Queued with priority above 0, highest first",
            parameters: [
                "filters": .array([
                    .array([.string("state"), .string("="), .string("Queued")]),
                    .array([.string("priority"), .string(">"), .int(0)]),
                ]),
                "order": .array([.string("priority desc"), .string("uuid")]),
                "limit": .int(1000),
            ],
            index: "containers_state_priority_uuid"
        ),
        Case(
            name: "a client's Queued list, highest priority first, then oldest",
            parameters: [
                "filters": .array([.array([.string("state"), .string("="), .string("Queued")])]),
                "order": .array([.string("priority desc"), .string("created_at")]),
                "limit": .int(100),
            ],
            index: "containers_state_priority_created_at"
        ),
    ]

    @Test(
        "The dispatcher's and clients' list calls walk an index in their order, sorting nothing",
        arguments: Self.cases
    )
    func dispatcherListsUseIndexes(_ testCase: Case) async throws {
        let directory = LiveServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try ContainerStore(dataDirectory: directory, clusterID: "zzzzz")
        let root = Caller.systemRoot(cluster: "zzzzz")
        let attributes: [String: JSONValue] = [
            "command": .array([.string("true")]),
            "container_image": .string("arvados/jobs"),
            "output_path": .string("/out"),
            "priority": .int(1),
            "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(1 << 30)]),
        ]
        let created = try await store.createContainers(attributes: Array(repeating: attributes, count: 20), by: root)
        for container in created.prefix(5) {
            _ = try await store.lockContainer(container.uuid.rawValue, by: root)
        }

        let query = try ListQuery(parameters: testCase.parameters, schema: .containers, maxLimit: 1000)
        let plan = try await store.containerListPlan(query, as: root)
        // The page query reads row ids only, so an index holding every column it needs is a covering one.
        #expect(
            plan.contains {
                $0.contains("USING INDEX \(testCase.index) ") || $0.contains("USING COVERING INDEX \(testCase.index) ")
            },
            "\(plan)"
        )
        #expect(!plan.contains { $0.hasPrefix("SCAN") }, "\(plan)")
        // No sort, not even of the matches of one priority by the rest of the order: the walk stops at the limit.
        #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
    }

    @Test(
        "The Queued lists come in their whole order, ties in priority and creation time by UUID, page after page",
        arguments: [
            (["priority desc", "created_at"], false),
            (["priority desc", "uuid"], true),
        ]
    )
    func queuedListsKeepTheirOrder(order: [String], priorityAboveZero: Bool) async throws {
        let directory = LiveServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Creation times repeat: each batch shares one, and the clock stands still between some batches.
        let clock = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        let store = try ContainerStore(dataDirectory: directory, clusterID: "zzzzz", now: { clock.withLock { $0 } })
        let root = Caller.systemRoot(cluster: "zzzzz")
        var created: [Container] = []
        for batch in 0..<6 {
            let attributes = (0..<5).map { index -> [String: JSONValue] in
                [
                    "command": .array([.string("true")]),
                    "container_image": .string("arvados/jobs"),
                    "output_path": .string("/out"),
                    "priority": .int(Int64((batch + index) % 4)),
                    "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(1 << 30)]),
                ]
            }
            created += try await store.createContainers(attributes: attributes, by: root)
            if batch % 2 == 1 {
                clock.withLock { $0 += 1 }
            }
        }
        var locked: Set<ContainerUUID> = []
        for container in created where container.priority > 0 && locked.count < 4 {
            _ = try await store.lockContainer(container.uuid.rawValue, by: root)
            locked.insert(container.uuid)
        }
        let expected = created.filter { container in
            !locked.contains(container.uuid) && (!priorityAboveZero || container.priority > 0)
        }.sorted { a, b in
            if a.priority != b.priority { return a.priority > b.priority }
            if order.contains("created_at"), let first = a.createdAt, let second = b.createdAt, first != second {
                return first < second
            }
            return a.uuid.rawValue < b.uuid.rawValue
        }.map(\.uuid)

        var filters: [JSONValue] = [.array([.string("state"), .string("="), .string("Queued")])]
        if priorityAboveZero {
            filters.append(.array([.string("priority"), .string(">"), .int(0)]))
        }
        var listed: [ContainerUUID] = []
        while true {
            let query = try ListQuery(
                parameters: [
                    "filters": .array(filters), "order": .array(order.map { .string($0) }), "limit": .int(4),
                    "offset": .int(Int64(listed.count)),
                ],
                schema: .containers,
                maxLimit: 1000
            )
            let page = try JSONDecoder().decode(
                [Container].self,
                from: Data(try await store.listContainers(query, as: root).items)
            )
            guard !page.isEmpty else { break }
            listed += page.map(\.uuid)
        }
        #expect(expected.count > 10)
        #expect(listed == expected)
    }
}
