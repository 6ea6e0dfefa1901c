import ArvadosAPI
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 13, finding 1: a stored container whose sizes overflow the dispatcher's arithmetic used to crash
/// `serve` at admission and again at every restart. A data directory that holds such records (written before
/// the API refused them, or by hand) must start, cancel each with `runtime_status.error` saying why, and go on
/// dispatching everything else.
@Suite("Hostile stored records", .serialized)
struct HostileRecordTests {
    /// Rewrites one stored container's document with `sqlite3`, as a record from an older version or a
    /// hand-edited database would look: `edits` are `json_set` path/value pairs; priority becomes 1.
    static func rewrite(database: String, uuid: ContainerUUID, edits: [(String, String)]) async throws {
        var document = "document"
        for (path, value) in edits { document = "json_set(\(document), '\(path)', json('\(value)'))" }
        document = "json_set(\(document), '$.priority', 1)"
        let sql = "UPDATE containers SET priority = 1, document = \(document) WHERE uuid = '\(uuid.rawValue)';"
        let result = try await ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["sqlite3", database, sql])
        try #require(result.status == 0, "sqlite3: \(result.stderr)")
    }

    @Test(
        "serve starts on a data directory holding overflowing records, cancels them with the reason, and runs the rest"
    )
    func overflowingStoredRecords() async throws {
        let directory = try TemporaryDirectory(prefix: "hostile-records")
        defer { directory.remove() }
        let (cluster, configPath) = try ServeCommandTests.setUp(directory)
        var daemon = try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve-1.log"))
        defer { daemon.process.signal(SIGKILL) }
        let client = ServeCommandTests.client(cluster)
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(daemon.logText)")

        // Priority 0: stored but never dispatched, so the documents can be edited while the daemon is down.
        let hostile: [(String, [(String, String)])] = [
            ("ram near Int64.max", [("$.runtime_constraints.ram", "9223372036854775000")]),
            ("large negative keep_cache_ram", [("$.runtime_constraints.keep_cache_ram", "-9223372036854775000")]),
            (
                "two tmp mounts adding past Int64.max",
                [
                    (
                        "$.mounts",
                        #"{"/a":{"kind":"tmp","capacity":5000000000000000000},"/b":{"kind":"tmp","capacity":5000000000000000000}}"#
                    )
                ]
            ),
            ("image size hint", [("$.container_image", #""0123456789abcdef0123456789abcdef+9223372036854775807""#)]),
            ("vcpus Int64.max", [("$.runtime_constraints.vcpus", "9223372036854775807")]),
        ]
        var uuids: [ContainerUUID] = []
        for _ in hostile {
            let container = try await client.createContainer([
                "command": .array([.string("true")]),
                "container_image": .string("test-image"),
                "output_path": .string("/tmp"),
                "cwd": .string("/tmp"),
                "priority": .int(0),
                "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(64 << 20)]),
            ])
            uuids.append(container.uuid)
        }
        daemon.process.signal(SIGTERM)
        #expect(await daemon.process.wait() == .exited(0), "\(daemon.logText)")

        let database = directory.file("data") + "/containers.sqlite"
        for (uuid, (_, edits)) in zip(uuids, hostile) {
            try await Self.rewrite(database: database, uuid: uuid, edits: edits)
        }

        // Twice: the first start cancels them; a restart afterwards must not trip over them either.
        for round in 1...2 {
            daemon = try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve-\(round + 1).log"))
            try #require(
                await eventually { try? await client.currentAuthorization() } != nil,
                "round \(round): \(daemon.logText)"
            )
            for (uuid, (label, _)) in zip(uuids, hostile) {
                let cancelled = await eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
                    () async -> Container? in
                    guard let container = try? await client.container(uuid), container.state == .cancelled else {
                        return nil
                    }
                    return container
                }
                let container = try #require(cancelled, "\(label) was not cancelled: \(daemon.logText)")
                let error = container.runtimeStatus["error"]?.stringValue ?? ""
                #expect(error.contains("not satisfiable"), "\(label): \(error)")
            }
            // The daemon is alive and still dispatches ordinary work.
            let normal = try await client.createContainer([
                "command": .array([.string("sh"), .string("-c"), .string("echo still here")]),
                "container_image": .string("test-image"),
                "output_path": .string("/tmp"),
                "cwd": .string("/tmp"),
                "priority": .int(1),
                "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(64 << 20)]),
            ])
            let done = await eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
                () async -> Container? in
                guard let container = try? await client.container(normal.uuid), container.state.isFinal else {
                    return nil
                }
                return container
            }
            #expect(done?.state == .complete && done?.exitCode == 0, "round \(round): \(daemon.logText)")
            #expect(daemon.process.isRunning, "round \(round): \(daemon.logText)")
            #expect(!daemon.logText.contains("runtime failure"), "\(daemon.logText)")
            daemon.process.signal(SIGTERM)
            #expect(await daemon.process.wait() == .exited(0), "round \(round): \(daemon.logText)")
        }
    }
}
