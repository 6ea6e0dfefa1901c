import AsyncHTTPClient
import DispatchModel
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import Testing

@testable import ContainerAPIServer

@Suite("Stored container JSON spliced into responses")
struct RenderedJSONTests {
    /// Objects whose members hide the characters the scanner splits on inside strings, arrays and objects.
    static let documents: [String] = [
        #"{}"#,
        #"{"a":1}"#,
        #"{"a":"x,y}z","b":[1,{"c":"]"}],"kind":"k"}"#,
        #"{"a":"quote \" and \\ and \\\" end","b":{"n":{"m":[[],{}]}},"c":null,"kind":"k"}"#,
        #"{"a":-1.5e+20,"b":true,"c":false,"d":"\u00e9\n","e":[null,"{[,"],"kind":"k"}"#,
        #"{ "a" : 1 , "b" : [ 1 , 2 ] , "kind" : "k" }"#,
    ]

    static let selections: [[String]?] = [nil, [], ["a"], ["b", "c"], ["a", "b", "c", "d", "e"], ["zz"]]

    @Test(
        "Cutting a stored object down to a selection keeps exactly the selected members and kind",
        arguments: Self.documents,
        Self.selections
    )
    func selection(document: String, select: [String]?) throws {
        let output = RenderedJSON.object(Array(document.utf8), selection: RenderedJSON.Selection(select))
        let expected = try #require(try Self.decode(Array(document.utf8)).objectValue)
        let actual = try #require(try Self.decode(output).objectValue, "\(String(decoding: output, as: UTF8.self))")
        if let select {
            let wanted = Set(select).union(["kind"])
            #expect(actual == expected.filter { wanted.contains($0.key) })
        } else {
            #expect(output == Array(document.utf8))
        }
    }

    @Test("The members of a stored object are found with their keys, in order")
    func members() {
        let document = Array(#"{"a":"}","bb":[{"c":","}],"kind":"arvados#container"}"#.utf8)
        var found: [(String, String)] = []
        document.withUnsafeBytes { bytes in
            RenderedJSON.forEachMember(of: bytes) { key, member in
                found.append((String(decoding: key, as: UTF8.self), String(decoding: member, as: UTF8.self)))
            }
        }
        #expect(found.map(\.0) == ["a", "bb", "kind"])
        #expect(found.map(\.1) == [#""a":"}""#, #""bb":[{"c":","}]"#, #""kind":"arvados#container""#])
    }

    @Test("A container in a list is byte for byte its GET, and responses render as the JSON encoder would")
    func listItemsAreGets() async throws {
        try await LiveServer.with { server in
            let plain = try await server.createContainer(priority: 3).json.uuid
            let unusual = try await server.createContainer(
                priority: 5,
                extra: [
                    "environment": .object(["QUOTE": .string("a \"b\" \\ c/d\n\u{e9}"), "EMPTY": .string("")]),
                    "mounts": .object(["/out": .object(["kind": .string("tmp"), "capacity": .int(1 << 40)])]),
                    "scheduling_parameters": .object(["preemptible": .bool(true), "partitions": .array([])]),
                ]
            ).json.uuid
            let locked = try await server.createContainer(priority: 9).json.uuid
            #expect(try await server.call(.POST, "/arvados/v1/containers/\(locked)/lock").status == 200)
            let reason = "can't run: \"no instance type\" {x}"
            let update = try await server.call(
                .PUT,
                "/arvados/v1/containers/\(locked)",
                json: .object(["container": .object(["runtime_status": .object(["error": .string(reason)])])])
            )
            #expect(update.status == 200)

            let list = try await Self.raw(server, "/arvados/v1/containers")
            #expect(WireJSON.bytes(try Self.decode(list)) == list, "the envelope is what WireJSON would write")
            let items = try Self.decode(list)["items"]?.arrayValue ?? []
            #expect(items.count == 3)
            for uuid in [plain, unusual, locked] {
                let single = try await Self.raw(server, "/arvados/v1/containers/\(uuid)")
                #expect(WireJSON.bytes(try Self.decode(single)) == single)
                #expect(list.contains(single), "the list holds the GET of \(uuid) byte for byte")
                let value = try Self.decode(single)
                #expect(items.contains(value))
                #expect(Set(value.objectKeys) == ContainerRules.fieldSet.union(["kind"]))
            }
            let lockedValue = try Self.decode(try await Self.raw(server, "/arvados/v1/containers/\(locked)"))
            #expect(lockedValue["runtime_status"]?["error"] == .string(reason))
            #expect(lockedValue["state"] == .string("Locked"))
            #expect(lockedValue["etag"] == update["etag"])
        }
    }

    @Test("select limits the attributes of list items, GET, create and update alike")
    func selectLimitsFields() async throws {
        try await LiveServer.with { server in
            let select: JSONValue = .array([.string("uuid"), .string("priority"), .string("runtime_constraints")])
            let wanted: Set<String> = ["kind", "uuid", "priority", "runtime_constraints"]
            let created = try await server.call(
                .POST,
                "/arvados/v1/containers",
                json: .object([
                    "select": select,
                    "container": .object([
                        "command": .array([.string("true")]), "container_image": .string("img"),
                        "output_path": .string("/out"), "priority": .int(2),
                        "runtime_constraints": .object(["vcpus": .int(2), "ram": .int(1 << 30)]),
                    ]),
                ])
            )
            #expect(created.status == 200)
            #expect(Set(created.json.objectKeys) == wanted)
            let uuid = created.json.uuid
            let full = try await server.call(.GET, "/arvados/v1/containers/\(uuid)")
            let query = try LiveServer.query(["select": select])

            let fetched = try await server.call(.GET, "/arvados/v1/containers/\(uuid)\(query)")
            #expect(Set(fetched.json.objectKeys) == wanted)
            let updated = try await server.call(
                .PUT,
                "/arvados/v1/containers/\(uuid)",
                json: .object(["select": select, "container": .object(["priority": .int(4)])])
            )
            #expect(Set(updated.json.objectKeys) == wanted)
            #expect(updated["priority"] == .int(4))

            let list = try await server.call(.GET, "/arvados/v1/containers\(query)")
            let item = try #require(list.json.items.first)
            #expect(Set(item.objectKeys) == wanted)
            for key in wanted where key != "priority" {
                #expect(item[key] == full[key], "\(key)")
                #expect(fetched[key] == full[key], "\(key)")
            }
            let refused = try await server.call(
                .GET,
                "/arvados/v1/containers/\(uuid)" + (try LiveServer.query(["select": .array([.string("nope")])]))
            )
            #expect(refused.status == 422)
        }
    }

    @Test("Migration v3 rewrites documents stored before it into the API JSON, keeping their etags")
    func migrationRewritesDocuments() async throws {
        let directory = LiveServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = URL(fileURLWithPath: directory).appendingPathComponent("containers.sqlite").path
        var container = Container(
            uuid: "zzzzz-dz642-000000000000001",
            state: .queued,
            priority: 6,
            command: ["echo", "x"],
            containerImage: "img",
            runtimeConstraints: .init(vcpus: 1, ram: 1 << 30),
            cwd: "/tmp",
            outputPath: "/out"
        )
        container.ownerUUID = "zzzzz-tpzed-000000000000000"
        container.createdAt = Timestamp(secondsSince1970: 1_790_000_000, nanoseconds: 123_456_000)
        container.modifiedAt = container.createdAt
        container.etag = "oldetag"
        do {
            let queue = try DatabaseQueue(path: path)
            try ContainerStore.migrator.migrate(queue, upTo: "v2: page containers locked by a token in UUID order")
            // The document as stored before v3: the Codable encoding, without nulls or kind.
            let document = WireJSON.string(try WireJSON.value(of: container))
            let (uuid, owner) = (container.uuid.rawValue, container.ownerUUID)
            try await queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO containers (uuid, owner_uuid, state, priority, locked_by_uuid, created_at,
                            modified_at, lock_count, container_image, exit_code, document)
                        VALUES (?, ?, 'Queued', 6, NULL, 0, 0, 0, 'img', NULL, ?)
                        """,
                    arguments: [uuid, owner, document]
                )
            }
            try queue.close()
        }
        try await LiveServer.with(dataDirectory: directory) { server in
            let fetched = try await server.call(.GET, "/arvados/v1/containers/\(container.uuid.rawValue)")
            #expect(fetched.status == 200)
            #expect(fetched["etag"] == .string("oldetag"))
            #expect(fetched["created_at"] == .string("2026-09-21T14:13:20.123456Z"))
            #expect(fetched["exit_code"] == .null)
            #expect(fetched["kind"] == .string("arvados#container"))
            #expect(Set(fetched.json.objectKeys) == ContainerRules.fieldSet.union(["kind"]))
            let list = try await server.call(.GET, "/arvados/v1/containers")
            #expect(list.json.items == [fetched.json])
        }
    }

    /// `bytes` decoded by Foundation's `JSONDecoder`, independent of the server's own parser.
    static func decode(_ bytes: [UInt8]) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    static let validJSON: [String] = [
        #"{"a":[1,-2,3.5,-0.25,1e3,2E-2,0,-0],"b":{"c":null,"d":true,"e":false},"f":""}"#,
        #" [ "x" , { } , [ ] ] "#,
        #""\"\\\/\b\f\n\r\t\u00e9\u20ac\ud83d\ude00""#,
        #"9223372036854775807"#,
        #"-9223372036854775808"#,
        #"9223372036854775808"#,
        #"123456789012345678901234567890"#,
        #"[1.0,-2.5e1,1e20,-0.0,0.5e1]"#,
        #"{"k":"é€😀","l":"x"}"#,
    ]

    @Test("The parser builds the JSONValue that JSONDecoder builds", arguments: Self.validJSON)
    func parserMatchesJSONDecoder(text: String) throws {
        #expect(try WireJSON.parse(Array(text.utf8)) == (try Self.decode(Array(text.utf8))))
    }

    static let invalidJSON: [[UInt8]] =
        [
            "", " ", "01", "-", "1.", ".5", "1e", "+1", "[1,]", "[1 2]", #"{"a"}"#, #"{"a":1,}"#, "{a:1}", "tru",
            "nul", #""abc"#, #""\x""#, #""\u12""#, #""\ud83d""#, "\"\u{1}\"", "1e400", "[1] x", "'a'",
        ].map { Array($0.utf8) } + [
            [0x22, 0xFF, 0x22],
            Array(repeating: UInt8(ascii: "["), count: 600) + Array(repeating: UInt8(ascii: "]"), count: 600),
        ]

    @Test("The parser refuses what is not JSON, including invalid UTF-8 and deep nesting", arguments: Self.invalidJSON)
    func parserRefusesInvalidJSON(bytes: [UInt8]) {
        #expect(throws: (any Error).self) { try WireJSON.parse(bytes) }
    }

    @Test("Nesting up to the limit parses")
    func parserNestingLimit() throws {
        let depth = JSONParser.maximumDepth
        let text = Array(repeating: UInt8(ascii: "["), count: depth) + Array(repeating: UInt8(ascii: "]"), count: depth)
        var value = try WireJSON.parse(text)
        var levels = 0
        while case .array(let elements) = value {
            levels += 1
            value = elements.first ?? .null
        }
        #expect(levels == depth)
    }

    /// The body of a `GET` as bytes, unparsed.
    static func raw(_ server: LiveServer, _ path: String) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)\(path)")
        request.headers.add(name: "Authorization", value: "Bearer \(TestTokens.root)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status == .ok)
        return Array(try await response.body.collect(upTo: 64 << 20).readableBytesView)
    }
}

extension Array where Element == UInt8 {
    /// Whether `other` occurs in this array as a contiguous run.
    func contains(_ other: [UInt8]) -> Bool {
        guard !other.isEmpty, other.count <= self.count else { return other.isEmpty }
        for start in 0...(self.count - other.count) where self[start] == other[0] {
            if self[start..<(start + other.count)].elementsEqual(other) { return true }
        }
        return false
    }
}
