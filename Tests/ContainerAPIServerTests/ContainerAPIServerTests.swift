import DispatchModel
import Foundation
import Logging
import NIOHTTP1
import Testing

@testable import ContainerAPIServer

@Suite("Container API over HTTP")
struct ContainerAPIServerTests {
    /// The attributes of `schemas.Container` in Arvados's discovery document (2025-04 revision).
    static let arvadosContainerFields: Set<String> = [
        "etag", "uuid", "owner_uuid", "created_at", "modified_at", "modified_by_user_uuid", "state", "started_at",
        "finished_at", "log", "environment", "cwd", "command", "output_path", "mounts", "runtime_constraints",
        "output", "container_image", "progress", "priority", "exit_code", "auth_uuid", "locked_by_uuid",
        "scheduling_parameters", "runtime_status", "runtime_user_uuid", "runtime_auth_scopes", "lock_count",
        "gateway_address", "interactive_session_started", "output_storage_classes", "output_properties", "cost",
        "subrequests_cost", "output_glob", "service", "published_ports",
    ]

    /// The real discovery document in the shared reference folder beside the repository, when it is there.
    static func referenceDiscoveryDocument() throws -> JSONValue? {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let path = repository.deletingLastPathComponent().appendingPathComponent(
            "shared/reference/arvados-v1-discovery.json"
        )
        guard let data = FileManager.default.contents(atPath: path.path) else { return nil }
        return try JSONDecoder().decode(JSONValue.self, from: data)
    }

    static func propertyNames(_ document: JSONValue?, schema: String) -> Set<String> {
        guard case .object(let properties)? = document?["schemas"]?[schema]?["properties"] else { return [] }
        return Set(properties.keys)
    }

    @Test("A created container reads back with every Arvados attribute and updates round-trip")
    func createGetUpdate() async throws {
        try await LiveServer.with { server in
            let discovery = try await server.call(.GET, "/discovery/v1/apis/arvados/v1/rest", token: nil)
            let schemaFields = Self.propertyNames(discovery.json, schema: "Container")
            #expect(schemaFields == Self.arvadosContainerFields)

            let created = try await server.createContainer(
                token: TestTokens.alice,
                priority: 7,
                extra: [
                    "environment": .object(["HOME": .string("/home/me")]),
                    "mounts": .object(["/out": .object(["kind": .string("tmp"), "capacity": .int(1_000_000)])]),
                    "scheduling_parameters": .object(["preemptible": .bool(true), "max_run_time": .int(60)]),
                ]
            )
            #expect(created.status == 200)
            var keys = Set(created.json.objectKeys)
            #expect(keys.remove("kind") != nil)
            #expect(keys == schemaFields)
            #expect(created["kind"] == .string("arvados#container"))
            let uuid = created.json.uuid
            #expect(ContainerUUID(rawValue: uuid).isWellFormed)
            #expect(uuid.hasPrefix("zzzzz-dz642-"))
            #expect(created["state"] == .string("Queued"))
            #expect(created["priority"] == .int(7))
            #expect(created["lock_count"] == .int(0))
            #expect(created["locked_by_uuid"] == .null)
            #expect(created["exit_code"] == .null)
            #expect(created["cwd"] == .string("/tmp"))
            #expect(created["environment"]?["HOME"] == .string("/home/me"))
            #expect(created["scheduling_parameters"]?["max_run_time"] == .int(60))
            #expect(created["mounts"]?["/out"]?["capacity"] == .int(1_000_000))
            #expect(created["runtime_constraints"]?["ram"] == .int(1 << 30))
            let owner = try #require(created["owner_uuid"]?.stringValue)
            #expect(owner.hasPrefix("zzzzz-tpzed-"))
            let createdAt = try #require(created["created_at"]?.stringValue)
            #expect(Timestamp(rfc3339: createdAt) != nil)
            #expect(
                createdAt.split(separator: ".").last?.count == 7,
                "microseconds, as Arvados writes them: \(createdAt)"
            )
            #expect(created["modified_at"] == created["created_at"])

            let fetched = try await server.call(.GET, "/arvados/v1/containers/\(uuid)", token: TestTokens.alice)
            #expect(fetched.status == 200)
            #expect(fetched.json == created.json)
            let container = try JSONDecoder().decode(Container.self, from: JSONEncoder().encode(fetched.json))
            #expect(container.schedulingParameters.preemptible)
            #expect(container.ownerUUID == owner)

            let updated = try await server.call(
                .PUT,
                "/arvados/v1/containers/\(uuid)",
                token: TestTokens.alice,
                json: .object(["container": .object(["priority": .int(9)])])
            )
            #expect(updated.status == 200)
            #expect(updated["priority"] == .int(9))
            #expect(updated["etag"] != created["etag"])
            let refetched = try await server.call(.GET, "/arvados/v1/containers/\(uuid)", token: TestTokens.alice)
            #expect(refetched["priority"] == .int(9))

            let selected = try await server.call(
                .GET,
                "/arvados/v1/containers/\(uuid)"
                    + (try LiveServer.query(["select": .array([.string("uuid"), .string("state")])])),
                token: TestTokens.alice
            )
            #expect(Set(selected.json.objectKeys) == ["kind", "uuid", "state"])
            let badSelect = try await server.call(
                .GET,
                "/arvados/v1/containers/\(uuid)" + (try LiveServer.query(["select": .array([.string("nope")])])),
                token: TestTokens.alice
            )
            #expect(badSelect.status == 422)
        }
    }

    @Test("The discovery document is served, describes the implemented methods and matches Arvados's schemas")
    func discoveryDocument() async throws {
        try await LiveServer.with { server in
            let response = try await server.call(.GET, "/discovery/v1/apis/arvados/v1/rest", token: nil)
            #expect(response.status == 200)
            let document = response.json
            #expect(document["kind"] == .string("discovery#restDescription"))
            #expect(document["rootUrl"] == .string("http://127.0.0.1:\(server.port)/"))
            #expect(document["baseUrl"] == .string("http://127.0.0.1:\(server.port)/arvados/v1/"))
            #expect(document["servicePath"] == .string("arvados/v1/"))
            #expect(
                Set(document["resources"]?.objectKeys ?? []) == ["containers", "logs", "api_client_authorizations"]
            )
            #expect(
                Set(document["resources"]?["containers"]?["methods"]?.objectKeys ?? [])
                    == ["get", "list", "create", "update", "lock", "unlock"]
            )
            #expect(Set(document["resources"]?["logs"]?["methods"]?.objectKeys ?? []) == ["get", "list", "create"])
            #expect(
                document["resources"]?["api_client_authorizations"]?["methods"]?["current"]?["path"]
                    == .string("api_client_authorizations/current")
            )
            #expect(
                document["resources"]?["containers"]?["methods"]?["lock"]?["path"] == .string("containers/{uuid}/lock")
            )
            if let reference = try Self.referenceDiscoveryDocument() {
                for schema in ["Container", "ContainerList", "Log", "LogList", "ApiClientAuthorization"] {
                    #expect(document["schemas"]?[schema] == reference["schemas"]?[schema], "schema \(schema)")
                }
                let methods = reference["resources"]?["containers"]?["methods"]
                #expect(document["resources"]?["containers"]?["methods"]?["get"] == methods?["get"])
            }
        }
    }

    @Test("List filters support every operator on the whitelisted attributes")
    func listFilters() async throws {
        try await LiveServer.with { server in
            var uuids: [String] = []
            for (priority, image) in [(1, "img-alpha"), (2, "img-beta"), (3, "IMG-Gamma"), (4, "img-alpha")] {
                uuids.append(try await server.createContainer(priority: priority, image: image).json.uuid)
            }
            let locked = try await server.call(.POST, "/arvados/v1/containers/\(uuids[3])/lock")
            #expect(locked.status == 200)
            let lockedAt = try #require(locked["modified_at"]?.stringValue)
            let middle = try await server.call(.GET, "/arvados/v1/containers/\(uuids[1])")
            let createdMiddle = try #require(middle["created_at"]?.stringValue)

            let rootTokenUUID = "zzzzz-gj3su-000000000000000"
            let cases: [(JSONValue, Set<Int>)] = [
                (.array([.string("priority"), .string("="), .int(2)]), [1]),
                (.array([.string("priority"), .string("!="), .int(2)]), [0, 2, 3]),
                (.array([.string("priority"), .string("<"), .int(2)]), [0]),
                (.array([.string("priority"), .string("<="), .int(2)]), [0, 1]),
                (.array([.string("priority"), .string(">"), .int(2)]), [2, 3]),
                (.array([.string("priority"), .string(">="), .int(2)]), [1, 2, 3]),
                (.array([.string("priority"), .string("in"), .array([.int(1), .int(3)])]), [0, 2]),
                (.array([.string("priority"), .string("not in"), .array([.int(1), .int(3)])]), [1, 3]),
                (.array([.string("priority"), .string("in"), .array([])]), []),
                (.array([.string("state"), .string("="), .string("Locked")]), [3]),
                (
                    .array([.string("state"), .string("in"), .array([.string("Queued"), .string("Locked")])]),
                    [0, 1, 2, 3]
                ),
                (.array([.string("container_image"), .string("like"), .string("img-%a")]), [0, 1, 3]),
                (.array([.string("container_image"), .string("like"), .string("img-gamma")]), []),
                (.array([.string("container_image"), .string("ilike"), .string("img-gam%")]), [2]),
                (.array([.string("container_image"), .string("like"), .string("img-bet_")]), [1]),
                (.array([.string("uuid"), .string("is_a"), .string("arvados#container")]), [0, 1, 2, 3]),
                (.array([.string("uuid"), .string("is_a"), .string("arvados#user")]), []),
                (.array([.string("locked_by_uuid"), .string("="), .null]), [0, 1, 2]),
                (.array([.string("locked_by_uuid"), .string("!="), .null]), [3]),
                (.array([.string("locked_by_uuid"), .string("is_a"), .string("arvados#apiClientAuthorization")]), [3]),
                (.array([.string("locked_by_uuid"), .string("!="), .string(rootTokenUUID)]), [0, 1, 2]),
                (.array([.string("locked_by_uuid"), .string("not in"), .array([.string(rootTokenUUID)])]), [0, 1, 2]),
                (.array([.string("locked_by_uuid"), .string("in"), .array([.string(rootTokenUUID)])]), [3]),
                (.array([.string("lock_count"), .string(">"), .int(0)]), [3]),
                (.array([.string("exit_code"), .string("="), .null]), [0, 1, 2, 3]),
                (.array([.string("modified_at"), .string(">="), .string(lockedAt)]), [3]),
                (.array([.string("created_at"), .string("="), .string(createdMiddle)]), [1]),
                (.array([.string("created_at"), .string(">"), .string(createdMiddle)]), [2, 3]),
                (.array([.string("uuid"), .string("="), .string(uuids[2])]), [2]),
                (.array([.string("containers.priority"), .string("="), .int(4)]), [3]),
                (.array([.string("runtime_status"), .string("exists"), .string("error")]), []),
            ]
            for (filter, expected) in cases {
                let response = try await server.call(
                    .GET,
                    "/arvados/v1/containers" + (try LiveServer.query(["filters": .array([filter])]))
                )
                #expect(response.status == 200, "\(filter)")
                let found = Set(response.json.items.map(\.uuid))
                #expect(found == Set(expected.map { uuids[$0] }), "filter \(filter)")
                #expect(response["items_available"] == .int(Int64(expected.count)), "filter \(filter)")
            }

            let combined = try await server.call(
                .GET,
                "/arvados/v1/containers"
                    + (try LiveServer.query([
                        "filters": .array([
                            .array([.string("state"), .string("="), .string("Queued")]),
                            .array([.string("priority"), .string(">"), .int(1)]),
                        ])
                    ]))
            )
            #expect(Set(combined.json.items.map(\.uuid)) == [uuids[1], uuids[2]])

            let viaWhere = try await server.call(
                .GET,
                "/arvados/v1/containers"
                    + (try LiveServer.query(["where": .object(["priority": .array([.int(1), .int(2)])])]))
            )
            #expect(Set(viaWhere.json.items.map(\.uuid)) == [uuids[0], uuids[1]])
        }
    }

    @Test("List honours order, limit, offset, select and count, with the Arvados envelope")
    func listShape() async throws {
        try await LiveServer.with { server in
            var uuids: [String] = []
            for priority in [5, 3, 9, 1] {
                uuids.append(try await server.createContainer(priority: priority).json.uuid)
            }
            let all = try await server.call(.GET, "/arvados/v1/containers")
            #expect(all["kind"] == .string("arvados#containerList"))
            #expect(all["limit"] == .int(100))
            #expect(all["offset"] == .int(0))
            #expect(all["items_available"] == .int(4))
            #expect(all.json.items.map(\.uuid) == uuids.reversed(), "default order is newest modification first")

            let byPriority = try await server.call(
                .GET,
                "/arvados/v1/containers" + (try LiveServer.query(["order": .array([.string("priority desc")])]))
            )
            #expect(byPriority.json.items.compactMap { $0["priority"]?.integerValue } == [9, 5, 3, 1])

            let page = try await server.call(
                .GET,
                "/arvados/v1/containers"
                    + (try LiveServer.query([
                        "order": .string("priority asc"), "limit": .int(2), "offset": .int(1), "count": .string("none"),
                        "select": .array([.string("uuid"), .string("priority")]),
                    ]))
            )
            #expect(page.status == 200)
            #expect(page.json.items.compactMap { $0["priority"]?.integerValue } == [3, 5])
            #expect(page["items_available"] == nil)
            #expect(page["limit"] == .int(2))
            #expect(page["offset"] == .int(1))
            for item in page.json.items {
                #expect(Set(item.objectKeys) == ["kind", "uuid", "priority"])
            }

            let zero = try await server.call(.GET, "/arvados/v1/containers?limit=0")
            #expect(zero.json.items.isEmpty)
            #expect(zero["items_available"] == .int(4))

            // Form-encoded parameters in a POST overridden to GET, as the Go SDK sends long queries.
            let form = try await server.call(
                .POST,
                "/arvados/v1/containers",
                form: [("_method", "GET"), ("filters", #"[["priority",">=",5]]"#), ("order", #"["priority asc"]"#)]
            )
            #expect(form.status == 200)
            #expect(form.json.items.compactMap { $0["priority"]?.integerValue } == [5, 9])
            let header = try await server.call(
                .POST,
                "/arvados/v1/containers",
                form: [("limit", "1")],
                headers: [("X-Http-Method-Override", "GET")]
            )
            #expect(header.json.items.count == 1)
        }
    }

    @Test(
        "Bad list parameters are refused with 422 and an Arvados error body",
        arguments: [
            #"filters=[["command","=","x"]]"#,
            #"filters=[["priority","~","x"]]"#,
            #"filters=[["priority","like","1%"]]"#,
            #"filters=[["priority","=","high"]]"#,
            #"filters=[["state","exists","x"]]"#,
            #"filters=[["created_at",">","yesterday"]]"#,
            #"filters=[["priority","="]]"#,
            #"filters={"priority":1}"#,
            "order=command",
            "order=priority sideways",
            "limit=-1",
            "offset=-5",
            "count=approximate",
            #"select=["no_such_field"]"#,
        ]
    )
    func badListParameters(query: String) async throws {
        try await LiveServer.with { server in
            let parts = query.split(separator: "=", maxSplits: 1).map(String.init)
            let response = try await server.call(
                .GET,
                "/arvados/v1/containers?\(parts[0])=\(LiveServer.formEncode(parts[1]))"
            )
            #expect(response.status == 422)
            #expect(response.errors.count == 1)
            #expect(response["error_token"]?.stringValue != nil)
        }
    }

    @Test("A container runs through lock, Running and Complete, and refuses what Arvados refuses")
    func stateMachine() async throws {
        try await LiveServer.with { server in
            let uuid = try await server.createContainer(token: TestTokens.alice).json.uuid
            let path = "/arvados/v1/containers/\(uuid)"
            func put(_ attributes: [String: JSONValue], token: String = TestTokens.root) async throws -> APIResponse {
                try await server.call(.PUT, path, token: token, json: .object(["container": .object(attributes)]))
            }
            #expect(try await put(["state": .string("Running")]).status == 422)
            #expect(try await put(["state": .string("Locked")]).status == 422)

            let locked = try await server.call(.POST, path + "/lock")
            #expect(locked.status == 200)
            #expect(locked["state"] == .string("Locked"))
            #expect(locked["lock_count"] == .int(1))
            #expect(locked["locked_by_uuid"] == .string("zzzzz-gj3su-000000000000000"))
            #expect(try await server.call(.POST, path + "/lock").status == 422)

            #expect(try await put(["state": .string("Running")], token: TestTokens.alice).status == 403)
            #expect(try await put(["state": .string("Complete")]).status == 422)
            let running = try await put(["state": .string("Running")])
            #expect(running.status == 200)
            #expect(running["started_at"]?.stringValue != nil)
            // A plain unlock of a Running container fails, as in Arvados; only the lock holder may requeue one
            // explicitly (requeue_running, after a preemption).
            #expect(try await server.call(.POST, path + "/unlock").status == 422)
            #expect(
                try await server.call(.POST, path + "/unlock?requeue_running=true", token: TestTokens.alice).status
                    == 422
            )

            #expect(try await put(["exit_code": .int(0)]).status == 422)
            let progress = try await put([
                "progress": .double(0.5), "runtime_status": .object(["activity": .string("running")]),
                "log": .string("d41d8cd98f00b204e9800998ecf8427e+0"),
            ])
            #expect(progress.status == 200)
            #expect(progress["progress"] == .double(0.5))
            #expect(progress["log"] == .string("d41d8cd98f00b204e9800998ecf8427e+0"))
            #expect(try await put(["priority": .int(0)], token: TestTokens.alice).status == 200)
            #expect(try await put(["progress": .double(0.7)], token: TestTokens.alice).status == 403)

            let complete = try await put([
                "state": .string("Complete"), "exit_code": .int(0),
                "output": .string("d41d8cd98f00b204e9800998ecf8427e+0"),
            ])
            #expect(complete.status == 200)
            #expect(complete["exit_code"] == .int(0))
            #expect(complete["finished_at"]?.stringValue != nil)
            #expect(complete["locked_by_uuid"] == .null)
            #expect(try await put(["state": .string("Cancelled")]).status == 422)
            #expect(try await put(["priority": .int(3)]).status == 422)
        }
    }

    @Test("Of many concurrent lock calls on one container exactly one succeeds")
    func concurrentLocks() async throws {
        try await LiveServer.with { server in
            let uuid = try await server.createContainer().json.uuid
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<10 {
                    group.addTask { try await server.call(.POST, "/arvados/v1/containers/\(uuid)/lock").status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.sorted() == [200] + Array(repeating: 422, count: 9))
            let container = try await server.call(.GET, "/arvados/v1/containers/\(uuid)")
            #expect(container["lock_count"] == .int(1))
        }
    }

    @Test("Hash attributes filter by key with exists")
    func existsFilters() async throws {
        try await LiveServer.with { server in
            let plain = try await server.createContainer().json.uuid
            let warned = try await server.createContainer().json.uuid
            let path = "/arvados/v1/containers/\(warned)"
            #expect(try await server.call(.POST, path + "/lock").status == 200)
            let running = try await server.call(
                .PUT,
                path,
                json: .object([
                    "container": .object([
                        "state": .string("Running"), "runtime_status": .object(["warning": .string("slow disk")]),
                    ])
                ])
            )
            #expect(running.status == 200)
            let cases: [(JSONValue, [String])] = [
                (.array([.string("runtime_status"), .string("exists"), .string("warning")]), [warned]),
                (.array([.string("runtime_status"), .string("exists"), .string("error")]), []),
                (.array([.string("runtime_status.warning"), .string("exists"), .bool(true)]), [warned]),
                (.array([.string("runtime_status.warning"), .string("exists"), .bool(false)]), [plain]),
            ]
            for (filter, expected) in cases {
                let response = try await server.call(
                    .GET,
                    "/arvados/v1/containers" + (try LiveServer.query(["filters": .array([filter])]))
                )
                #expect(response.json.items.map(\.uuid) == expected, "filter \(filter)")
            }
        }
    }

    @Test("Unlock requeues a container and cancels it once it reaches MaxDispatchAttempts")
    func maxDispatchAttempts() async throws {
        try await LiveServer.with(maxDispatchAttempts: 2) { server in
            let uuid = try await server.createContainer().json.uuid
            let path = "/arvados/v1/containers/\(uuid)"
            #expect(try await server.call(.POST, path + "/unlock").status == 422)
            #expect(try await server.call(.POST, path + "/lock").status == 200)
            #expect(try await server.call(.POST, path + "/unlock", token: TestTokens.alice).status == 404)
            let first = try await server.call(.POST, path + "/unlock")
            #expect(first["state"] == .string("Queued"))
            #expect(first["locked_by_uuid"] == .null)
            #expect(first["lock_count"] == .int(1))
            #expect(try await server.call(.POST, path + "/lock")["lock_count"] == .int(2))
            let second = try await server.call(.POST, path + "/unlock")
            #expect(second["state"] == .string("Cancelled"))
            #expect(second["runtime_status"]?["error"]?.stringValue?.contains("MaxDispatchAttempts") == true)
            #expect(try await server.call(.POST, path + "/lock").status == 422)

            let idle = try await server.createContainer(priority: 0).json.uuid
            let refused = try await server.call(.POST, "/arvados/v1/containers/\(idle)/lock")
            #expect(refused.status == 422)
            #expect(refused.errors == ["cannot lock when priority<=0"])
        }
    }

    @Test("Tokens decide who sees and changes what")
    func authorization() async throws {
        try await LiveServer.with { server in
            let alices = try await server.createContainer(token: TestTokens.alice).json.uuid
            let bobs = try await server.createContainer(token: TestTokens.bob).json.uuid
            let path = "/arvados/v1/containers/\(alices)"

            let anonymous = try await server.call(.GET, path, token: nil)
            #expect(anonymous.status == 401)
            #expect(anonymous.errors.count == 1)
            #expect(try await server.call(.GET, "/arvados/v1/containers", token: nil).status == 401)
            #expect(try await server.call(.GET, path, token: "not-a-token").status == 401)
            #expect(
                try await server.call(.GET, "/arvados/v1/api_client_authorizations/current", token: nil).status == 401
            )

            #expect(try await server.call(.GET, path, token: TestTokens.alice).status == 200)
            #expect(try await server.call(.GET, path, token: TestTokens.bob).status == 404)
            #expect(
                try await server.call(
                    .PUT,
                    path,
                    token: TestTokens.bob,
                    json: .object(["container": .object(["priority": .int(5)])])
                ).status == 404
            )
            #expect(try await server.call(.POST, path + "/lock", token: TestTokens.alice).status == 403)
            #expect(
                try await server.call(
                    .POST,
                    "/arvados/v1/containers",
                    token: TestTokens.bob,
                    json: .object(["container": .object(["owner_uuid": .string("zzzzz-tpzed-000000000000000")])])
                ).status == 403
            )

            let bobsList = try await server.call(.GET, "/arvados/v1/containers", token: TestTokens.bob)
            #expect(bobsList.json.items.map(\.uuid) == [bobs])
            #expect(bobsList["items_available"] == .int(1))
            let rootList = try await server.call(.GET, "/arvados/v1/containers")
            #expect(Set(rootList.json.items.map(\.uuid)) == [alices, bobs])

            // The Go SDK sends OAuth2 headers and form-encoded bodies whose values are JSON.
            let formUpdate = try await server.call(
                .PUT,
                path,
                token: nil,
                form: [("container", #"{"priority":6}"#)],
                headers: [("Authorization", "OAuth2 \(TestTokens.alice)")]
            )
            #expect(formUpdate.status == 200)
            #expect(formUpdate["priority"] == .int(6))
            let oauth = try await server.call(
                .GET,
                path,
                token: nil,
                headers: [("Authorization", "OAuth2 \(TestTokens.alice)")]
            )
            #expect(oauth.status == 200)
            let parameter = try await server.call(.GET, path + "?api_token=\(TestTokens.alice)", token: nil)
            #expect(parameter.status == 200)

            let current = try await server.call(
                .GET,
                "/arvados/v1/api_client_authorizations/current",
                token: TestTokens.alice
            )
            #expect(current.status == 200)
            #expect(current["kind"] == .string("arvados#apiClientAuthorization"))
            #expect(current["uuid"]?.stringValue?.hasPrefix("zzzzz-gj3su-") == true)
            let alicesOwner = try await server.call(.GET, path, token: TestTokens.alice)["owner_uuid"]
            #expect(current["owner_uuid"] == alicesOwner)
            #expect(current["scopes"] == .array([.string("all")]))
            #expect(current["api_token"] == nil)
            #expect(!TestJSON.text(current.json).contains(TestTokens.alice))
            let root = try await server.call(.GET, "/arvados/v1/api_client_authorizations/current")
            #expect(root["uuid"] == .string("zzzzz-gj3su-000000000000000"))
        }
    }

    @Test("Malformed requests get Arvados error bodies with 4xx codes")
    func errorBodies() async throws {
        try await LiveServer.with { server in
            let cases: [(APIResponse, Int)] = [
                (try await server.call(.GET, "/arvados/v1/containers/zzzzz-dz642-000000000000000"), 404),
                (try await server.call(.GET, "/arvados/v1/no_such_resource"), 404),
                (try await server.call(.POST, "/arvados/v1/containers", json: .object([:])), 422),
                (try await server.call(.POST, "/arvados/v1/containers", json: .array([])), 400),
                (
                    try await server.call(
                        .POST,
                        "/arvados/v1/containers",
                        json: .object(["container": .object(["command": .string("not an array")])])
                    ), 422
                ),
            ]
            for (response, status) in cases {
                #expect(response.status == status)
                #expect(response.errors.count == 1, "\(response.json)")
            }
        }
    }

    @Test("A request body over the size limit is refused with 413")
    func bodySizeLimit() async throws {
        try await LiveServer.with(maxRequestBodySize: 4096) { server in
            let small = try await server.createContainer()
            #expect(small.status == 200)
            let big = try await server.createContainer(
                extra: ["environment": .object(["BIG": .string(String(repeating: "x", count: 10_000))])]
            )
            #expect(big.status == 413)
            #expect(big.errors.count == 1)
        }
    }

    @Test("Logs are created by runners and listed with filters, visible to the container's owner only")
    func logs() async throws {
        try await LiveServer.with { server in
            let uuid = try await server.createContainer(token: TestTokens.alice).json.uuid
            for (type, text) in [("stdout", "hello\n"), ("stderr", "oops\n"), ("stdout", "world\n")] {
                let created = try await server.call(
                    .POST,
                    "/arvados/v1/logs",
                    json: .object([
                        "log": .object([
                            "object_uuid": .string(uuid), "event_type": .string(type),
                            "properties": .object(["text": .string(text)]),
                        ])
                    ])
                )
                #expect(created.status == 200)
                #expect(created["kind"] == .string("arvados#log"))
                #expect(created["uuid"]?.stringValue?.hasPrefix("zzzzz-57u5n-") == true)
                #expect(created["id"]?.integerValue != nil)
            }
            let query = try LiveServer.query([
                "filters": .array([
                    .array([.string("object_uuid"), .string("="), .string(uuid)]),
                    .array([.string("event_type"), .string("="), .string("stdout")]),
                ]),
                "order": .string("id asc"),
            ])
            let stdout = try await server.call(.GET, "/arvados/v1/logs" + query, token: TestTokens.alice)
            #expect(stdout["kind"] == .string("arvados#logList"))
            #expect(stdout.json.items.compactMap { $0["properties"]?["text"]?.stringValue } == ["hello\n", "world\n"])
            let firstID = try #require(stdout.json.items.first?["id"]?.integerValue)
            let later = try await server.call(
                .GET,
                "/arvados/v1/logs"
                    + (try LiveServer.query(["filters": .array([.array([.string("id"), .string(">"), .int(firstID)])])])),
                token: TestTokens.alice
            )
            #expect(later.json.items.count == 2)
            let bobs = try await server.call(.GET, "/arvados/v1/logs" + query, token: TestTokens.bob)
            #expect(bobs.json.items.isEmpty)
            let bobWrites = try await server.call(
                .POST,
                "/arvados/v1/logs",
                token: TestTokens.bob,
                json: .object(["log": .object(["object_uuid": .string(uuid), "event_type": .string("stdout")])])
            )
            #expect(bobWrites.status == 403)
            let single = try await server.call(
                .GET,
                "/arvados/v1/logs/\(stdout.json.items[0].uuid)",
                token: TestTokens.alice
            )
            #expect(single["properties"]?["text"] == .string("hello\n"))
            #expect(
                Set(single.json.objectKeys).subtracting(["kind"])
                    == Self.propertyNames(
                        try await server.call(.GET, "/discovery/v1/apis/arvados/v1/rest", token: nil).json,
                        schema: "Log"
                    )
            )
        }
    }

    @Test("A malformed cluster ID is a configuration error")
    func invalidClusterID() {
        let configuration = ContainerAPIServer.Configuration(
            clusterID: "Not-A-Cluster",
            dataDirectory: LiveServer.temporaryDirectory(),
            systemRootToken: TestTokens.root
        )
        let error = #expect(throws: ContainerAPIError.self) {
            try ContainerAPIServer(configuration: configuration, logger: Logger(label: "test"))
        }
        #expect(error?.code == .invalidConfiguration)
    }

    @Test("A server that cannot bind its port fails, and so do those waiting for its port")
    func bindFailure() async throws {
        try await LiveServer.with { running in
            var configuration = ContainerAPIServer.Configuration(
                clusterID: "zzzzz",
                dataDirectory: LiveServer.temporaryDirectory(),
                systemRootToken: TestTokens.root
            )
            configuration.port = running.port
            defer { try? FileManager.default.removeItem(atPath: configuration.dataDirectory) }
            var logger = Logger(label: "container-api-test")
            logger.logLevel = .critical
            let second = try ContainerAPIServer(configuration: configuration, logger: logger)
            await #expect(throws: (any Error).self) { try await second.run() }
            let error = await #expect(throws: ContainerAPIError.self) { try await second.listeningPort() }
            #expect(error?.code == .internal)
        }
    }

    @Test("Committed changes are in the database a second store opens, with private file modes and WAL")
    func durability() async throws {
        let directory = LiveServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let uuid = try await LiveServer.with(dataDirectory: directory) { server in
            let uuid = try await server.createContainer(priority: 4).json.uuid
            #expect(try await server.call(.POST, "/arvados/v1/containers/\(uuid)/lock").status == 200)
            return uuid
        }
        let store = try ContainerStore(dataDirectory: directory, clusterID: "zzzzz")
        #expect(try await store.journalMode() == "wal")
        let root = Caller.systemRoot(cluster: "zzzzz")
        let container = try await store.container(uuid, as: root)
        #expect(container.state == .locked)
        #expect(container.priority == 4)
        #expect(container.lockCount == 1)

        let directoryMode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
        let fileMode = try FileManager.default.attributesOfItem(atPath: store.databasePath)[.posixPermissions] as? Int
        #expect(directoryMode == 0o700)
        #expect(fileMode == 0o600)

        // A restarted server serves the same data.
        try await LiveServer.with(dataDirectory: directory) { server in
            let fetched = try await server.call(.GET, "/arvados/v1/containers/\(uuid)")
            #expect(fetched["state"] == .string("Locked"))
        }
    }

    @Test("A batch create stores all of its containers, or none when one of them is refused")
    func batchCreate() async throws {
        let directory = LiveServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try ContainerStore(dataDirectory: directory, clusterID: "zzzzz")
        let root = Caller.systemRoot(cluster: "zzzzz")
        func attributes(priority: Int64, image: String = "arvados/jobs") -> [String: JSONValue] {
            [
                "command": .array([.string("true")]),
                "container_image": .string(image),
                "output_path": .string("/out"),
                "priority": .int(priority),
                "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(1 << 30)]),
            ]
        }

        let created = try await store.createContainers(attributes: (1...3).map { attributes(priority: $0) }, by: root)
        #expect(created.map(\.priority) == [1, 2, 3])
        #expect(Set(created.map(\.uuid)).count == 3)
        for container in created {
            let stored = try await store.container(container.uuid.rawValue, as: root)
            #expect(stored == container)
            #expect(stored.state == .queued)
        }

        let refused = await #expect(throws: ContainerAPIError.self) {
            try await store.createContainers(
                attributes: [attributes(priority: 7), attributes(priority: 8, image: "")],
                by: root
            )
        }
        #expect(refused?.code == .unprocessable)
        let query = try ListQuery(parameters: [:], schema: .containers, maxLimit: 1000)
        let listed = try await store.listContainers(query, as: root)
        #expect(listed.available == 3)
    }
}

extension JSONValue {
    var objectKeys: [String] {
        if case .object(let members) = self { return Array(members.keys) }
        return []
    }
}

enum TestJSON {
    static func text(_ value: JSONValue) -> String {
        String(decoding: (try? JSONEncoder().encode(value)) ?? Data(), as: UTF8.self)
    }
}
