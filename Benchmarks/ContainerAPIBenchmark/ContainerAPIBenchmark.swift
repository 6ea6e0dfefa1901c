// The embedded container API under load: creates per second over HTTP, and the latency of the dispatcher's list
// calls with 100,000 containers stored.
//
// Run with `swift run -c release container-api-benchmark [containers] [calls] [--schema-v1]` (defaults 100000 and
// 50; `--schema-v1` measures with the indexes from before migration v2). The server runs in this process on
// 127.0.0.1 with a fresh data directory under the temporary directory, removed at the end unless
// CONTAINER_API_BENCHMARK_KEEP is set (then its path is printed, for `sqlite3` and EXPLAIN QUERY PLAN). Every
// figure is wall-clock time through the HTTP client from sending a request to holding the whole response body, so it
// includes the server's JSON rendering but not the client's parsing of the body.

import AsyncHTTPClient
import ContainerAPIServer
import DispatchModel
import Foundation
import GRDB
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

@main
struct ContainerAPIBenchmark {
    static let rootToken = "container-api-benchmark-root-token"
    static let cluster: ClusterID = "zzzzz"

    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst().filter { !$0.hasPrefix("--") }
        let containerCount = arguments.first.flatMap { Int($0) } ?? 100_000
        let calls = max(arguments.dropFirst().first.flatMap { Int($0) } ?? 50, 50)
        let schemaV1 = CommandLine.arguments.contains("--schema-v1")
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("container-api-benchmark-\(UUID().uuidString)").path
        let keep = ProcessInfo.processInfo.environment["CONTAINER_API_BENCHMARK_KEEP"] != nil
        defer {
            if keep {
                print("data directory kept: \(directory)")
            } else {
                try? FileManager.default.removeItem(atPath: directory)
            }
        }

        var logger = Logger(label: "container-api-benchmark")
        logger.logLevel = .warning
        let server = try ContainerAPIServer(
            configuration: .init(clusterID: Self.cluster, dataDirectory: directory, systemRootToken: Self.rootToken),
            logger: logger
        )
        let services = ServiceGroup(configuration: .init(services: [server], logger: logger))
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: 32
        )
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: clientConfiguration)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            let api = BenchmarkClient(client: client, port: try await server.listeningPort(), token: Self.rootToken)
            do {
                try await Self.run(
                    api: api,
                    store: server.store,
                    containerCount: containerCount,
                    calls: calls,
                    schemaV1: schemaV1
                )
            } catch {
                await services.triggerGracefulShutdown()
                try? await client.shutdown()
                throw error
            }
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        try await client.shutdown()
        print("peak RSS (VmHWM): \(Self.peakRSS())")
    }

    static func run(
        api: BenchmarkClient,
        store: ContainerStore,
        containerCount: Int,
        calls: Int,
        schemaV1: Bool
    ) async throws {
        print("container API benchmark: \(containerCount) containers, \(calls) calls per list figure")
        print("")
        print("creates over HTTP (one transaction and one fsync each)")
        let bursts = [(inFlight: 1, count: 300), (inFlight: 16, count: 2000)]
        for (inFlight, count) in bursts {
            let elapsed = try await Self.createBurst(api: api, count: count, inFlight: inFlight)
            let seconds = Self.milliseconds(elapsed) / 1000
            print(
                "  \(Self.pad("\(inFlight) in flight", 14)) \(count) creates in "
                    + "\(Self.format(seconds, digits: 2)) s: \(Self.format(Double(count) / seconds, digits: 0)) creates/s"
            )
        }

        let loadStart = ContinuousClock.now
        let loaded = try await Self.load(store: store, count: containerCount)
        let loadTime = ContinuousClock.now - loadStart
        let lockStart = ContinuousClock.now
        let me = Caller.systemRoot(cluster: Self.cluster).tokenUUID
        let locked = try await Self.markLocked(
            databasePath: store.databasePath,
            uuids: loaded.enumerated().compactMap { [1, 2, 3].contains($0.offset % 10) ? $0.element : nil },
            by: me
        )
        let lockTime = ContinuousClock.now - lockStart
        if schemaV1 {
            try await Self.restoreSchemaV1Indexes(databasePath: store.databasePath)
            print("")
            print("--schema-v1: containers_locked_by_uuid_uuid replaced by v1's containers_locked_by_uuid")
        }
        print("")
        print(
            "loaded \(loaded.count) Queued containers through ContainerStore.createContainers, 5,000 per transaction "
                + "(\(Self.format(Self.milliseconds(loadTime) / 1000, digits: 1)) s); marked \(locked.count) of them "
                + "Locked by the root token with one SQL UPDATE transaction "
                + "(\(Self.format(Self.milliseconds(lockTime) / 1000, digits: 1)) s)"
        )

        let polled: JSONValue = .array(
            [
                "uuid", "state", "priority", "runtime_constraints", "container_image", "scheduling_parameters",
                "created_at", "locked_by_uuid",
            ].map(JSONValue.string)
        )
        let lockedSorted = locked.map(\.rawValue).sorted()
        let lastLocked = lockedSorted.last ?? ""
        let middleLocked = lockedSorted.isEmpty ? "" : lockedSorted[lockedSorted.count / 2]
        let probes: [(String, [String: JSONValue], String?)] = [
            (
                "Queued, priority > 0, by priority (limit 1000)",
                [
                    "filters": .array([
                        .array([.string("state"), .string("="), .string("Queued")]),
                        .array([.string("priority"), .string(">"), .int(0)]),
                    ]),
                    "order": .array([.string("priority desc"), .string("uuid")]),
                    "limit": .int(1000),
                    "count": .string("none"),
                    "select": polled,
                ],
                nil
            ),
            (
                "locked_by_uuid = me, by uuid, first page",
                [
                    "filters": .array([.array([.string("locked_by_uuid"), .string("="), .string(me)])]),
                    "order": .array([.string("uuid")]),
                    "limit": .int(1000),
                    "count": .string("none"),
                    "select": polled,
                ],
                nil
            ),
            (
                "locked_by_uuid = me, uuid > the middle one",
                [
                    "filters": .array([
                        .array([.string("locked_by_uuid"), .string("="), .string(me)]),
                        .array([.string("uuid"), .string(">"), .string(middleLocked)]),
                    ]),
                    "order": .array([.string("uuid")]),
                    "limit": .int(1000),
                    "count": .string("none"),
                    "select": polled,
                ],
                nil
            ),
            (
                "locked_by_uuid = me, uuid > the last one (empty)",
                [
                    "filters": .array([
                        .array([.string("locked_by_uuid"), .string("="), .string(me)]),
                        .array([.string("uuid"), .string(">"), .string(lastLocked)]),
                    ]),
                    "order": .array([.string("uuid")]),
                    "limit": .int(1000),
                    "count": .string("none"),
                    "select": polled,
                ],
                nil
            ),
            (
                "Queued, priority > 0, by priority, count=exact",
                [
                    "filters": .array([
                        .array([.string("state"), .string("="), .string("Queued")]),
                        .array([.string("priority"), .string(">"), .int(0)]),
                    ]),
                    "order": .array([.string("priority desc"), .string("uuid")]),
                    "limit": .int(1000),
                    "select": polled,
                ],
                nil
            ),
            (
                "every attribute, by uuid (limit 1000, count=none)",
                ["order": .array([.string("uuid")]), "limit": .int(1000), "count": .string("none")],
                nil
            ),
            ("GET one container by UUID", [:], loaded[loaded.count / 2].rawValue),
            ("default list, count=exact (limit 100)", ["count": .string("exact")], nil),
        ]
        print("")
        let total = loaded.count + bursts.reduce(0) { $0 + $1.count }
        print("list latency at \(total) containers, \(calls) sequential calls each")
        print(
            "  \(Self.pad("call", 50)) \(Self.pad("items", 6)) \(Self.pad("median ms", 10)) "
                + "\(Self.pad("p95 ms", 10)) \(Self.pad("max ms", 10))"
        )
        for (name, parameters, uuid) in probes {
            let path: String
            if let uuid {
                path = "/arvados/v1/containers/\(uuid)"
            } else {
                path = "/arvados/v1/containers\(try BenchmarkClient.query(parameters))"
            }
            var samples: [Double] = []
            var items = 0
            for _ in 0..<calls {
                let response = try await api.call(.GET, path)
                samples.append(Self.milliseconds(response.elapsed))
                items = response.itemCount
            }
            samples.sort()
            let median = samples[samples.count / 2]
            let p95 = samples[Int((Double(samples.count) * 0.95).rounded(.up)) - 1]
            print(
                "  \(Self.pad(name, 50)) \(Self.pad(uuid == nil ? "\(items)" : "1", 6)) "
                    + "\(Self.pad(Self.format(median, digits: 2), 10)) \(Self.pad(Self.format(p95, digits: 2), 10)) "
                    + "\(Self.pad(Self.format(samples.last ?? 0, digits: 2), 10))"
            )
        }
    }

    /// Sends `count` creates, `inFlight` at a time; returns the wall-clock time they took.
    static func createBurst(api: BenchmarkClient, count: Int, inFlight: Int) async throws -> Duration {
        let body = Self.createBody(priority: 500)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<inFlight {
                group.addTask {
                    for _ in stride(from: lane, to: count, by: inFlight) {
                        let response = try await api.call(.POST, "/arvados/v1/containers", body: body)
                        guard response.status == 200 else {
                            throw BenchmarkError("A create answered \(response.status)")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return ContinuousClock.now - start
    }

    /// Stores `count` Queued containers in batches, one transaction per batch; returns their UUIDs.
    ///
    /// Priorities are spread over 1…1000 with every tenth at 0 (no request wants it), and the runtime constraints
    /// and images vary, as a busy cluster's queue would.
    static func load(store: ContainerStore, count: Int) async throws -> [ContainerUUID] {
        var generator = SeededGenerator(state: 20_261_129)
        let root = Caller.systemRoot(cluster: Self.cluster)
        var uuids: [ContainerUUID] = []
        uuids.reserveCapacity(count)
        var next = 0
        while next < count {
            let batch = (next..<min(next + 5000, count)).map { index in
                let priority = index % 10 == 0 ? 0 : Int64.random(in: 1...1000, using: &generator)
                return Self.attributes(
                    priority: priority,
                    vcpus: [1, 1, 2, 4, 8].randomElement(using: &generator) ?? 1,
                    ramGiB: [1, 2, 4, 8, 16].randomElement(using: &generator) ?? 1,
                    image: "arvados/jobs:\(index % 20)"
                )
            }
            uuids += try await store.createContainers(attributes: batch, by: root).map(\.uuid)
            next += batch.count
        }
        return uuids
    }

    /// Marks containers Locked by `token`, as the dispatcher's lock calls would leave them, in one transaction of
    /// plain SQL on the database file: locking 30,000 containers one commit (one fsync) at a time would dominate the
    /// run. The stored documents change with the columns; their etags go stale, which no figure here reads.
    static func markLocked(
        databasePath: String,
        uuids: [ContainerUUID],
        by token: String
    ) async throws
        -> [ContainerUUID]
    {
        var configuration = GRDB.Configuration()
        configuration.busyMode = .timeout(30)
        let database = try DatabaseQueue(path: databasePath, configuration: configuration)
        try await database.write { db in
            let statement = try db.makeStatement(
                sql: """
                    UPDATE containers SET state = 'Locked', locked_by_uuid = ?, lock_count = 1,
                        document = json_set(document, '$.state', 'Locked', '$.locked_by_uuid', ?, '$.lock_count', 1)
                    WHERE uuid = ?
                    """
            )
            for uuid in uuids {
                try statement.execute(arguments: [token, token, uuid.rawValue])
            }
        }
        try database.close()
        return uuids
    }

    /// Puts back the indexes of schema v1 (locked_by_uuid alone), for before-and-after figures of migration v2.
    static func restoreSchemaV1Indexes(databasePath: String) async throws {
        var configuration = GRDB.Configuration()
        configuration.busyMode = .timeout(30)
        let database = try DatabaseQueue(path: databasePath, configuration: configuration)
        try await database.write { db in
            try db.execute(
                sql: """
                    CREATE INDEX containers_locked_by_uuid ON containers (locked_by_uuid);
                    DROP INDEX containers_locked_by_uuid_uuid;
                    """
            )
        }
        try database.close()
    }

    static func attributes(priority: Int64, vcpus: Int64, ramGiB: Int64, image: String) -> [String: JSONValue] {
        [
            "command": .array([.string("arvados-cwl-runner"), .string("--api=containers"), .string("workflow.cwl")]),
            "container_image": .string(image),
            "output_path": .string("/var/spool/cwl"),
            "cwd": .string("/var/spool/cwl"),
            "priority": .int(priority),
            "environment": .object(["HOME": .string("/var/spool/cwl"), "TMPDIR": .string("/tmp")]),
            "mounts": .object([
                "/var/spool/cwl": .object(["kind": .string("tmp"), "capacity": .int(10 << 30)]),
                "/tmp": .object(["kind": .string("tmp"), "capacity": .int(1 << 30)]),
            ]),
            "runtime_constraints": .object([
                "vcpus": .int(vcpus), "ram": .int(ramGiB << 30), "keep_cache_ram": .int(256 << 20),
            ]),
            "scheduling_parameters": .object(["preemptible": .bool(false), "partitions": .array([])]),
        ]
    }

    static func createBody(priority: Int64) -> Data {
        let container = Self.attributes(priority: priority, vcpus: 1, ramGiB: 1, image: "arvados/jobs")
        return (try? JSONEncoder().encode(JSONValue.object(["container": .object(container)]))) ?? Data()
    }

    static func peakRSS() -> String {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return "?" }
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? "VmHWM: ?"
        return line.dropFirst("VmHWM:".count).trimmingCharacters(in: .whitespaces)
    }

    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    static func format(_ value: Double, digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}

/// A failed benchmark step.
struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A response: its status, for a list how many items it held, and the time from sending the request to having
/// the whole body (the client's parsing of the body, which counts the items, is not in it).
struct BenchmarkResponse: Sendable {
    var status: Int
    var itemCount: Int
    var elapsed: Duration
}

/// An HTTP client of the server under test, with the root token.
struct BenchmarkClient: Sendable {
    let client: HTTPClient
    let port: Int
    let token: String

    func call(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> BenchmarkResponse {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(self.port)\(path)")
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(self.token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: Array(body)))
        }
        let start = ContinuousClock.now
        let response = try await self.client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 256 << 20)
        let elapsed = ContinuousClock.now - start
        var itemCount = 0
        if response.status == .ok, method == .GET,
            case .object(let members) = try JSONDecoder().decode(JSONValue.self, from: Data(bytes.readableBytesView)),
            case .array(let items)? = members["items"]
        {
            itemCount = items.count
        }
        return BenchmarkResponse(status: Int(response.status.code), itemCount: itemCount, elapsed: elapsed)
    }

    /// A query string from parameters whose values are JSON-encoded, as Arvados clients send them.
    static func query(_ parameters: [String: JSONValue]) throws -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        var parts: [String] = []
        for (name, value) in parameters.sorted(by: { $0.key < $1.key }) {
            let text: String
            if case .string(let plain) = value {
                text = plain
            } else {
                text = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
            }
            parts.append("\(name)=\(text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text)")
        }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }
}

/// SplitMix64: a small, seeded, deterministic generator.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
