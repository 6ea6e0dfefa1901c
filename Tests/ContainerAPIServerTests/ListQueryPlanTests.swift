import DispatchModel
import Foundation
import Testing

@testable import ContainerAPIServer

/// The dispatcher's list calls must stay index walks at 100,000 containers; these tests read SQLite's plans.
@Suite("Container list query plans")
struct ListQueryPlanTests {
    static let lockHolder = Caller.systemRoot(cluster: "zzzzz").tokenUUID

    /// A dispatcher list call, the index its plan must use, and whether SQLite may sort the tail of the order.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var parameters: [String: JSONValue]
        var index: String
        var sortsOrderTail: Bool
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
            index: "containers_locked_by_uuid_uuid",
            sortsOrderTail: false
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
            index: "containers_locked_by_uuid_uuid",
            sortsOrderTail: false
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
            index: "containers_state_priority",
            // Containers of equal priority are put in UUID order as the index yields them, which stops at the limit.
            sortsOrderTail: true
        ),
    ]

    @Test("The dispatcher's list calls walk an index instead of sorting every match", arguments: Self.cases)
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
        if testCase.sortsOrderTail {
            #expect(!plan.contains("USE TEMP B-TREE FOR ORDER BY"), "\(plan)")
        } else {
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
        }
    }
}
