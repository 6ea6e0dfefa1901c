import AsyncHTTPClient
import DispatchModel
import DispatchTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import ContainerAPIServer

/// Seeded random and structured mutations of container creates and updates, filters and list parameters, sent
/// over HTTP to a real server on 127.0.0.1.
///
/// Invariants: no crash, no 5xx (every request here is a client's mistake or a valid call), every response has a
/// JSON body (an Arvados error body for a 4xx), every request is answered within a bound, the server still
/// answers afterwards, and every container whose create was acknowledged is still listed.
@Suite("Container API fuzzing")
struct APIFuzzTests {
    /// Requests run in this many lanes at once, each with its own generator.
    static let lanes = 4

    @Test("Mutated creates, updates and list queries never make the server fail, hang or lose a container")
    func fuzzContainerAPI() async throws {
        let budget = FuzzBudget(name: "container-api", defaultCases: 2000)
        let started = ContinuousClock.now
        let stats = try await LiveServer.with(maxRequestBodySize: 1 << 20) { server in
            let perLane = (budget.cases + Self.lanes - 1) / Self.lanes
            let results = try await withThrowingTaskGroup(of: LaneResult.self) { group in
                for lane in 0..<Self.lanes {
                    group.addTask {
                        var lane = FuzzLane(
                            port: server.port,
                            random: FuzzRandom(seed: budget.seed &+ UInt64(lane) &* 0x9E37_79B9)
                        )
                        return try await lane.run(cases: perLane)
                    }
                }
                return try await group.reduce(into: [LaneResult]()) { $0.append($1) }
            }
            var total = LaneResult()
            for result in results {
                total.merge(result)
            }
            // Nothing acknowledged is lost: every created UUID is still listed.
            let listed = try await Self.allContainerUUIDs(server)
            let missing = total.created.subtracting(listed)
            #expect(missing.isEmpty, "acknowledged but not listed: \(missing.sorted().prefix(5))")
            // The server still answers.
            let current = try await server.call(.GET, "/arvados/v1/api_client_authorizations/current")
            #expect(current.status == 200)
            return total
        }
        for violation in stats.violations.prefix(20) {
            Issue.record("\(violation)")
        }
        #expect(stats.violations.isEmpty, "\(stats.violations.count) invariant violations")
        let statuses = stats.statusCounts.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }
        budget.report(
            cases: stats.cases,
            elapsed: ContinuousClock.now - started,
            extra: "\(stats.created.count) created, statuses \(statuses.joined(separator: " ")), "
                + "\(stats.headTooLarge) past the head limit, slowest \(stats.slowest)"
        )
    }

    static func allContainerUUIDs(_ server: LiveServer) async throws -> Set<String> {
        var uuids: Set<String> = []
        var offset = 0
        while true {
            let query = try LiveServer.query([
                "limit": .int(1000), "offset": .int(Int64(offset)), "select": .array([.string("uuid")]),
                "order": .string("uuid"),
            ])
            let page = try await server.call(.GET, "/arvados/v1/containers\(query)")
            let items = page.json.items
            uuids.formUnion(items.map(\.uuid))
            if items.isEmpty { return uuids }
            offset += items.count
        }
    }
}

/// What one lane saw.
struct LaneResult: Sendable {
    var cases = 0
    var created: Set<String> = []
    var statusCounts: [Int: Int] = [:]
    var violations: [String] = []
    var slowest: Duration = .zero
    /// Requests whose request line passed the HTTP decoder's limit.
    var headTooLarge = 0

    mutating func merge(_ other: LaneResult) {
        self.cases += other.cases
        self.created.formUnion(other.created)
        self.statusCounts.merge(other.statusCounts, uniquingKeysWith: +)
        self.violations += other.violations
        self.slowest = max(self.slowest, other.slowest)
        self.headTooLarge += other.headTooLarge
    }
}

/// One sequence of generated requests.
struct FuzzLane {
    let port: Int
    var random: FuzzRandom
    var result = LaneResult()
    var mine: [String] = []

    static let tokens = [TestTokens.root, TestTokens.alice, TestTokens.bob]
    static let pdh = "0123456789abcdef0123456789abcdef"

    mutating func run(cases: Int) async throws -> LaneResult {
        for _ in 0..<cases {
            try await self.oneCase()
            self.result.cases += 1
        }
        return self.result
    }

    mutating func oneCase() async throws {
        switch Int.random(in: 0..<10, using: &self.random) {
        case 0..<4:
            var attributes = self.validAttributes()
            for _ in 0..<Int.random(in: 0...3, using: &self.random) {
                self.mutate(&attributes)
            }
            let body = self.maybeCorrupt(WireJSON.bytes(.object(["container": .object(attributes)])))
            let token = self.random.chance(0.9) ? self.random.pick(Self.tokens) : self.random.hostileString()
            let response = try await self.send(.POST, "/arvados/v1/containers", token: token, body: body)
            if response.status == 200, let uuid = response.json?["uuid"]?.stringValue {
                self.result.created.insert(uuid)
                self.mine.append(uuid)
            }
        case 4..<6:
            let uuid =
                self.mine.isEmpty || self.random.chance(0.1)
                ? "zzzzz-dz642-" + self.random.hostileString(maxLength: 15) : self.random.pick(self.mine)
            var patch: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 1...3, using: &self.random) {
                let key = self.random.pick(ContainerRules.fields + ["bogus"])
                patch[key] = self.value(for: key)
            }
            let body = self.maybeCorrupt(WireJSON.bytes(.object(["container": .object(patch)])))
            let path = "/arvados/v1/containers/\(LiveServer.formEncode(uuid))"
            _ = try await self.send(
                self.random.pick([.PATCH, .PUT]),
                path,
                token: self.random.pick(Self.tokens),
                body: body
            )
        case 6..<9:
            let parameters = self.listParameters()
            if self.random.chance(0.5) {
                let query = (try? LiveServer.query(parameters)) ?? ""
                _ = try await self.send(
                    .GET,
                    "/arvados/v1/\(self.random.pick(["containers", "logs"]))\(query)",
                    token: TestTokens.root
                )
            } else {
                var body = parameters
                body["_method"] = .string("GET")
                _ = try await self.send(
                    .POST,
                    "/arvados/v1/\(self.random.pick(["containers", "logs"]))",
                    token: self.random.pick(Self.tokens),
                    body: self.maybeCorrupt(WireJSON.bytes(.object(body)))
                )
            }
        default:
            let uuid = self.mine.isEmpty ? "zzzzz-dz642-000000000000000" : self.random.pick(self.mine)
            let action = self.random.pick(["lock", "unlock"])
            _ = try await self.send(
                .POST,
                "/arvados/v1/containers/\(uuid)/\(action)",
                token: self.random.pick(Self.tokens)
            )
        }
    }

    // MARK: Generation

    func validAttributes() -> [String: JSONValue] {
        [
            "command": .array([.string("echo"), .string("hello")]),
            "container_image": .string("arvados/jobs"),
            "output_path": .string("/out"),
            "cwd": .string("/tmp"),
            "priority": .int(1),
            "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(1 << 30)]),
        ]
    }

    /// One structured mutation: a size, a mount, an image, a field set to a hostile value, or a field removed.
    mutating func mutate(_ attributes: inout [String: JSONValue]) {
        switch Int.random(in: 0..<7, using: &self.random) {
        case 0:
            var constraints = attributes["runtime_constraints"]?.objectValue ?? [:]
            let key = self.random.pick(["vcpus", "ram", "keep_cache_ram", "keep_cache_disk", "API", "gpu"])
            constraints[key] =
                key == "gpu"
                ? .object([
                    "stack": .string(self.random.pick(["", "cuda", "rocm", "x"])),
                    "device_count": self.number(), "vram": self.number(),
                    "driver_version": .string(self.random.hostileString(maxLength: 6)),
                ])
                : self.number()
            attributes["runtime_constraints"] = .object(constraints)
        case 1:
            var mounts: [String: JSONValue] = [:]
            for index in 0..<Int.random(in: 1...3, using: &self.random) {
                mounts["/m\(index)"] = .object([
                    "kind": .string(self.random.pick(["tmp", "collection", "json", ""])),
                    "capacity": self.number(),
                    "content": self.deepValue(depth: Int.random(in: 0...80, using: &self.random)),
                ])
            }
            attributes["mounts"] = .object(mounts)
        case 2:
            let hint: String
            switch Int.random(in: 0..<3, using: &self.random) {
            case 0: hint = String(self.random.edgyInt64())
            case 1: hint = String(repeating: "9", count: Int.random(in: 1...40, using: &self.random))
            default: hint = self.random.hostileString(maxLength: 12)
            }
            attributes["container_image"] = .string("\(Self.pdh)+\(hint)")
        case 3:
            attributes["scheduling_parameters"] = .object([
                "max_run_time": self.number(), "preemptible": .bool(self.random.chance(0.5)),
                "partitions": .array([.string(self.random.hostileString())]),
            ])
        case 4:
            let key = self.random.pick(Array(ContainerRules.creatableFields) + ["uuid", "state", "bogus", "kind"])
            attributes[key] = self.value(for: key)
        case 5:
            if let key = attributes.keys.sorted().randomElement(using: &self.random) {
                attributes[key] = nil
            }
        default:
            attributes["priority"] = self.number()
        }
    }

    /// A value for a container field: usually of the right shape, often with hostile content.
    mutating func value(for key: String) -> JSONValue {
        if self.random.chance(0.3) { return self.anyValue(depth: 3) }
        switch key {
        case "priority", "exit_code", "lock_count", "progress", "cost": return self.number()
        case "state":
            return .string(self.random.pick(["Queued", "Locked", "Running", "Complete", "Cancelled", "Bogus", ""]))
        case "runtime_status", "output_properties", "environment", "runtime_constraints", "scheduling_parameters":
            return .object(["error": self.anyValue(depth: 2), "k": self.number()])
        default: return self.anyValue(depth: 2)
        }
    }

    mutating func number() -> JSONValue {
        switch Int.random(in: 0..<5, using: &self.random) {
        case 0: return .double(self.random.pick([1e300, -1e300, 0.5, -0.0, 9.3e18, 1e19]))
        case 1: return .string(String(self.random.edgyInt64()))
        default: return .int(self.random.edgyInt64())
        }
    }

    mutating func anyValue(depth: Int) -> JSONValue {
        switch Int.random(in: 0..<(depth > 0 ? 7 : 5), using: &self.random) {
        case 0: return .null
        case 1: return .bool(self.random.chance(0.5))
        case 2: return self.number()
        case 3, 4: return .string(self.random.hostileString())
        case 5:
            return .array((0..<Int.random(in: 0...3, using: &self.random)).map { _ in self.anyValue(depth: depth - 1) })
        default:
            var object: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...3, using: &self.random) {
                object[self.random.hostileString(maxLength: 8)] = self.anyValue(depth: depth - 1)
            }
            return .object(object)
        }
    }

    /// Arrays nested `depth` levels deep.
    func deepValue(depth: Int) -> JSONValue {
        var value = JSONValue.int(1)
        for _ in 0..<depth { value = .array([value]) }
        return value
    }

    mutating func listParameters() -> [String: JSONValue] {
        var parameters: [String: JSONValue] = [:]
        let attributes = [
            "uuid", "state", "priority", "container_image", "created_at", "runtime_status", "bogus",
            "runtime_status.error", "containers.priority", "id", "event_type", "properties",
        ]
        let operators = ["=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "ilike", "is_a", "exists", "??"]
        if self.random.chance(0.8) {
            let count =
                self.random.chance(0.05)
                ? Int.random(in: 90...300, using: &self.random) : Int.random(in: 0...4, using: &self.random)
            var filters: [JSONValue] = []
            for _ in 0..<count {
                let op = self.random.pick(operators)
                let operand: JSONValue
                switch op {
                case "in", "not in", "is_a":
                    let size =
                        self.random.chance(0.05)
                        ? Int.random(in: 5000...12_000, using: &self.random)
                        : Int.random(in: 0...5, using: &self.random)
                    operand = .array(
                        (0..<size).map { _ in self.random.chance(0.5) ? .string("arvados#container") : self.number() }
                    )
                case "like", "ilike":
                    let length = self.random.chance(0.1) ? Int.random(in: 900...3000, using: &self.random) : 8
                    operand = .string(
                        String(repeating: self.random.pick(["%", "_", "a", "\\", "*", "["]), count: length)
                    )
                case "exists":
                    operand = self.random.chance(0.5) ? .bool(true) : .string(self.random.hostileString(maxLength: 8))
                default:
                    operand = self.random.chance(0.3) ? .string("2025-01-01T00:00:00Z") : self.anyValue(depth: 1)
                }
                filters.append(
                    self.random.chance(0.95)
                        ? .array([.string(self.random.pick(attributes)), .string(op), operand])
                        : self.anyValue(depth: 2)
                )
            }
            parameters["filters"] = .array(filters)
        }
        if self.random.chance(0.3) {
            parameters["order"] =
                self.random.chance(0.8)
                ? .string(
                    self.random.pick(["priority desc", "uuid", "modified_at asc, uuid", "bogus", "priority up", ""])
                )
                : self.anyValue(depth: 1)
        }
        if self.random.chance(0.3) { parameters["limit"] = self.number() }
        if self.random.chance(0.3) { parameters["offset"] = self.number() }
        if self.random.chance(0.2) {
            parameters["select"] = .array(
                (0..<Int.random(in: 0...4, using: &self.random)).map { _ in
                    .string(self.random.pick(["uuid", "state", "priority", "bogus", "mounts"]))
                }
            )
        }
        if self.random.chance(0.2) { parameters["count"] = .string(self.random.pick(["exact", "none", "x"])) }
        if self.random.chance(0.1) { parameters["where"] = self.anyValue(depth: 2) }
        return parameters
    }

    /// Usually the bytes as they are; sometimes cut short, with a byte changed or garbage spliced in.
    mutating func maybeCorrupt(_ bytes: [UInt8]) -> [UInt8] {
        guard !bytes.isEmpty, self.random.chance(0.15) else { return bytes }
        var bytes = bytes
        let index = Int.random(in: 0..<bytes.count, using: &self.random)
        switch Int.random(in: 0..<3, using: &self.random) {
        case 0: bytes.removeSubrange(index...)
        case 1: bytes[index] = UInt8.random(in: 0...255, using: &self.random)
        default: bytes.insert(contentsOf: Array(self.random.hostileString(maxLength: 6).utf8), at: index)
        }
        return bytes
    }

    // MARK: Sending and checking

    struct Answer {
        var status: Int
        var json: JSONValue?
    }

    mutating func send(_ method: HTTPMethod, _ path: String, token: String, body: [UInt8]? = nil) async throws -> Answer
    {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(self.port)\(path)")
        request.method = method
        request.headers.add(
            name: "Authorization",
            value: "Bearer \(token.filter { $0.isASCII && !$0.isNewline && $0 != "\0" })"
        )
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let started = ContinuousClock.now
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: FuzzLaneTimeout.request)
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            self.result.violations.append("\(method) \(path.prefix(120)): no answer: \(error)")
            return Answer(status: 0, json: nil)
        }
        let elapsed = ContinuousClock.now - started
        self.result.slowest = max(self.result.slowest, elapsed)
        let status = Int(response.status.code)
        self.result.statusCounts[status, default: 0] += 1
        let json = try? WireJSON.parse(Array(bytes.readableBytesView))
        let description = "\(method) \(path.prefix(120)) (\(path.utf8.count) bytes) → \(status)"
        // A request line past the HTTP decoder's limit is refused before any handler runs, with an empty 400
        // (docs/container-api.md).
        if status == 400, bytes.readableBytes == 0, path.utf8.count > RequestLimits.maxHeadBytes - 1024 {
            self.result.headTooLarge += 1
            return Answer(status: status, json: nil)
        }
        if status >= 500 {
            self.result.violations.append("\(description): server error \(String(buffer: bytes).prefix(300))")
        }
        if json == nil {
            self.result.violations.append("\(description): body is not JSON: \(String(buffer: bytes).prefix(200))")
        } else if status >= 400, json?["errors"]?.arrayValue?.isEmpty != false {
            self.result.violations.append("\(description): error without an Arvados error body")
        }
        return Answer(status: status, json: json)
    }
}

enum FuzzLaneTimeout {
    static let request: TimeAmount = .seconds(20)
}
