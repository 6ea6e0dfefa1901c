import DispatchModel
import DispatchTestSupport
import Foundation
import NIOHTTP1
import Testing

@testable import ContainerAPIServer

/// Requests an attacker or a buggy client sends: sizes that overflow the dispatcher's arithmetic, list queries
/// that would make SQLite fail, bodies sent without a valid token. Each answers with a 4xx and an Arvados error
/// body, and nothing it asks for is stored.
@Suite("Hostile input")
struct HostileInputTests {
    static let pdh = "0123456789abcdef0123456789abcdef"

    /// Container attributes merged into a valid create, and the field the refusal must name.
    static let refusedCreates: [(String, [String: JSONValue], String)] = [
        (
            "ram near Int64.max", ["runtime_constraints": .object(["vcpus": .int(1), "ram": .int(Int64.max - 5)])],
            "runtime_constraints.ram"
        ),
        (
            "negative keep_cache_ram",
            [
                "runtime_constraints": .object([
                    "vcpus": .int(1), "ram": .int(1 << 30), "keep_cache_ram": .int(-(1 << 62)),
                ])
            ],
            "runtime_constraints.keep_cache_ram"
        ),
        (
            "ram plus keep_cache_ram past 1 EiB",
            [
                "runtime_constraints": .object([
                    "vcpus": .int(1), "ram": .int(1 << 60), "keep_cache_ram": .int(1 << 60),
                ])
            ],
            "runtime_constraints.ram"
        ),
        (
            "negative vcpus", ["runtime_constraints": .object(["vcpus": .int(-4), "ram": .int(1 << 30)])],
            "runtime_constraints.vcpus"
        ),
        (
            "vcpus near Int64.max", ["runtime_constraints": .object(["vcpus": .int(Int64.max), "ram": .int(1 << 30)])],
            "runtime_constraints.vcpus"
        ),
        (
            "negative keep_cache_disk",
            ["runtime_constraints": .object(["vcpus": .int(1), "ram": .int(1 << 30), "keep_cache_disk": .int(-1)])],
            "runtime_constraints.keep_cache_disk"
        ),
        (
            "negative GPU count",
            [
                "runtime_constraints": .object([
                    "vcpus": .int(1), "ram": .int(1 << 30),
                    "gpu": .object(["stack": .string("cuda"), "device_count": .int(-1)]),
                ])
            ],
            "runtime_constraints.gpu.device_count"
        ),
        (
            "negative GPU memory",
            [
                "runtime_constraints": .object([
                    "vcpus": .int(1), "ram": .int(1 << 30),
                    "gpu": .object(["stack": .string("cuda"), "device_count": .int(1), "vram": .int(-5)]),
                ])
            ],
            "runtime_constraints.gpu.vram"
        ),
        (
            "two tmp mounts adding past Int64.max",
            [
                "mounts": .object([
                    "/tmp": .object(["kind": .string("tmp"), "capacity": .int(Int64.max / 2 + 10)]),
                    "/var": .object(["kind": .string("tmp"), "capacity": .int(Int64.max / 2 + 10)]),
                ])
            ],
            "capacity"
        ),
        (
            "negative tmp capacity",
            ["mounts": .object(["/tmp": .object(["kind": .string("tmp"), "capacity": .int(-1)])])],
            "capacity"
        ),
        ("an enormous image size hint", ["container_image": .string("\(pdh)+9000000000000000000")], "container_image"),
        (
            "an image size hint past Int64", ["container_image": .string("\(pdh)+99999999999999999999")],
            "container_image"
        ),
        ("a non-numeric image size hint", ["container_image": .string("\(pdh)+12x4")], "container_image"),
        (
            "negative max_run_time", ["scheduling_parameters": .object(["max_run_time": .int(-1)])],
            "scheduling_parameters.max_run_time"
        ),
        (
            "max_run_time of Int64.max", ["scheduling_parameters": .object(["max_run_time": .int(Int64.max)])],
            "scheduling_parameters.max_run_time"
        ),
        ("priority past the maximum", ["priority": .int(1001)], "priority"),
    ]

    @Test("A create whose sizes the dispatcher cannot work with is refused with 422 naming the field, and not stored")
    func refusedCreatesAreNotStored() async throws {
        try await LiveServer.with { server in
            for (name, extra, field) in Self.refusedCreates {
                let response = try await server.createContainer(extra: extra)
                #expect(response.status == 422, "\(name): \(response.json)")
                #expect(response.errors.first?.contains(field) == true, "\(name): \(response.errors)")
            }
            let list = try await server.call(.GET, "/arvados/v1/containers")
            #expect(list["items_available"] == .int(0))
        }
    }

    @Test("Large but sane sizes are still stored, for the dispatcher to cancel if no instance type fits")
    func saneButLargeSizesAreStored() async throws {
        try await LiveServer.with { server in
            let response = try await server.createContainer(
                image: "\(Self.pdh)+1234567",
                extra: [
                    "runtime_constraints": .object([
                        "vcpus": .int(4096), "ram": .int(1 << 50), "keep_cache_ram": .int(1 << 30),
                    ]),
                    "mounts": .object(["/tmp": .object(["kind": .string("tmp"), "capacity": .int(1 << 45)])]),
                    "scheduling_parameters": .object(["max_run_time": .int(86400)]),
                ]
            )
            #expect(response.status == 200, "\(response.json)")
        }
    }

    @Test("A like pattern past the limit is refused with 422 and a JSON body")
    func longLikePattern() async throws {
        try await LiveServer.with { server in
            let pattern = String(repeating: "%a", count: 30_000)
            let query = try LiveServer.query(
                ["filters": .array([.array([.string("container_image"), .string("like"), .string(pattern)])])]
            )
            let response = try await server.call(.GET, "/arvados/v1/containers\(query)")
            #expect(response.status == 422)
            #expect(response.errors.first?.contains("pattern") == true, "\(response.errors)")
        }
    }

    @Test("5,000 filters are refused with 422 and a JSON body")
    func tooManyFilters() async throws {
        try await LiveServer.with { server in
            let filters = JSONValue.array(
                Array(repeating: .array([.string("priority"), .string(">="), .int(0)]), count: 5000)
            )
            let response = try await server.call(
                .POST,
                "/arvados/v1/containers",
                json: .object(["_method": .string("GET"), "filters": filters])
            )
            #expect(response.status == 422)
            #expect(response.errors.first?.contains("filters") == true, "\(response.errors)")
        }
    }

    @Test("Too many order terms, select names or in operands are refused with 422")
    func otherListBounds() async throws {
        try await LiveServer.with { server in
            let cases: [(JSONValue, String)] = [
                (.object(["order": .array(Array(repeating: .string("priority desc"), count: 50))]), "order"),
                (.object(["select": .array(Array(repeating: .string("uuid"), count: 500))]), "select"),
                (
                    .object([
                        "filters": .array([
                            .array([
                                .string("uuid"), .string("in"), .array(Array(repeating: .string("x"), count: 20_000)),
                            ])
                        ])
                    ]),
                    "in"
                ),
            ]
            for (parameters, word) in cases {
                var body = parameters.objectValue ?? [:]
                body["_method"] = .string("GET")
                let response = try await server.call(.POST, "/arvados/v1/containers", json: .object(body))
                #expect(response.status == 422, "\(word)")
                #expect(response.errors.first?.contains(word) == true, "\(response.errors)")
            }
        }
    }

    @Test("A 300 KB query string gets 400 with a JSON error body")
    func longQueryString() async throws {
        try await LiveServer.with { server in
            let response = try await server.call(
                .GET,
                "/arvados/v1/containers?filters=" + String(repeating: "a", count: 300_000)
            )
            #expect(response.status == 400)
            #expect(response.errors.first?.contains("query string") == true, "\(response.json)")
        }
    }

    @Test("JSON nested deeper than the limit is refused with 400 and a JSON body")
    func deeplyNestedBody() async throws {
        try await LiveServer.with { server in
            let depth = 100
            let text =
                "{\"container\": " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
            let response = try await RawHTTP.exchange(
                port: server.port,
                head: "POST /arvados/v1/containers HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                    + "\(TestTokens.root)\r\nContent-Type: application/json\r\nContent-Length: \(text.utf8.count)"
                    + "\r\nConnection: close\r\n\r\n" + text
            )
            #expect(response.status == 400)
            let body = try JSONDecoder().decode(JSONValue.self, from: Data(response.body))
            #expect(body["errors"] != nil)
        }
    }

    @Test("A request without a valid token is refused with 401 before its body is read")
    func authenticationBeforeBody() async throws {
        try await LiveServer.with(maxRequestBodySize: 128 << 20) { server in
            // The head promises 120 MiB that never come: a server that reads the body first never answers.
            for authorization in ["", "Authorization: Bearer not-a-token\r\n", "Authorization: Basic abc\r\n"] {
                let response = try await RawHTTP.exchange(
                    port: server.port,
                    head: "POST /arvados/v1/containers HTTP/1.1\r\nHost: localhost\r\n\(authorization)"
                        + "Content-Type: application/json\r\nContent-Length: \(120 << 20)\r\n\r\n",
                    timeoutSeconds: 60
                )
                #expect(response.status == 401, "\(authorization)")
                let body = try JSONDecoder().decode(JSONValue.self, from: Data(response.body))
                #expect(body["errors"] != nil)
            }
            // A token in the query string is checked the same way.
            let response = try await RawHTTP.exchange(
                port: server.port,
                head: "POST /arvados/v1/containers?api_token=wrong HTTP/1.1\r\nHost: localhost\r\n"
                    + "Content-Length: \(120 << 20)\r\n\r\n"
            )
            #expect(response.status == 401)
        }
    }

    @Test("A token in a small form body is still accepted; an unauthenticated large body is refused")
    func tokenInBody() async throws {
        try await LiveServer.with { server in
            let accepted = try await server.call(
                .POST,
                "/arvados/v1/containers",
                token: nil,
                form: [("_method", "GET"), ("api_token", TestTokens.root)]
            )
            #expect(accepted.status == 200)
            let refused = try await server.call(
                .POST,
                "/arvados/v1/containers",
                token: nil,
                form: [
                    ("_method", "GET"), ("api_token", TestTokens.root), ("pad", String(repeating: "p", count: 100_000)),
                ]
            )
            #expect(refused.status == 401)
            #expect(!refused.errors.isEmpty)
        }
    }

    @Test("Text written to the log is bounded")
    func loggedTextIsBounded() {
        let huge = String(repeating: "x", count: 800_000)
        #expect(RequestLimits.loggable(huge).utf8.count < 1100)
        #expect(RequestLimits.loggable("short") == "short")
    }
}
