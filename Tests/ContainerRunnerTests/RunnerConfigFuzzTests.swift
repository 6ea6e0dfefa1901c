import ArvadosAPI
import ContainerRunner
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Seeded mutations of the `--stdin-config` documents the dispatcher sends (`WorkerPool.runnerConfiguration`)
/// and of the container records inside them, against the runner's parsing: in process for most cases, and a
/// smaller number through the real `dispatch-runner --detach --stdin-config`.
///
/// Invariants: nothing crashes or hangs; every refusal is a `RunnerError` with a message that names its cause
/// and never holds the token; durations from the record saturate; the real runner exits 1 or 2 within seconds
/// with one `dispatch-runner:` line on stderr, and leaves no lock held. Only loopback addresses are ever
/// contacted: a mutated document whose API host is anything else is checked in process only.
@Suite("Runner configuration fuzzing")
struct RunnerConfigFuzzTests {
    static let token = "v2/zzzzz-gj3su-000000000000000/fuzz-secret-token-value"
    static let uuid: ContainerUUID = "zzzzz-dz642-fuzzfuzzfuzzfuz"

    /// A document as the dispatcher builds it, pointing at `host`, carrying `record` when given.
    static func baseDocument(host: String, record: Container?) throws -> JSONValue {
        var environment: [String: JSONValue] = [
            "ARVADOS_API_HOST": .string(host),
            "ARVADOS_API_TOKEN": .string(Self.token),
            "InstanceType": .string("{\n  \"Name\" : \"small\",\n  \"VCPUs\" : 2\n}"),
            "GatewayAddress": .string("127.0.0.1:0"),
            "GatewayAuthSecret": .string("0123456789abcdef"),
        ]
        environment["ARVADOS_API_HOST_INSECURE"] = .string("1")
        var document: [String: JSONValue] = [
            "Env": .object(environment),
            "KeepBuffers": .int(2),
            "EC2SpotCheck": .bool(false),
            "Cluster": .object([
                "ClusterID": .string("zzzzz"), "Containers": .object(["RuntimeEngine": .string("process")]),
            ]),
        ]
        if let record {
            document["Container"] = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(record))
        }
        return .object(document)
    }

    static func record(_ uuid: ContainerUUID, state: ContainerState = .locked) -> Container {
        Container(
            uuid: uuid,
            state: state,
            priority: 1,
            command: ["true"],
            containerImage: "process",
            runtimeConstraints: RuntimeConstraints(vcpus: 1, ram: 64 << 20),
            schedulingParameters: SchedulingParameters(maxRunTime: 60),
            environment: ["A": "b"],
            cwd: "/tmp",
            outputPath: "/tmp"
        )
    }

    // MARK: - Mutations

    /// Paths of the numbers and strings the runner reads, where mutations matter most.
    static let hotPaths: [[String]] = [
        ["Container", "scheduling_parameters", "max_run_time"], ["Container", "runtime_constraints", "ram"],
        ["Container", "runtime_constraints", "vcpus"], ["Container", "runtime_constraints", "keep_cache_ram"],
        ["Container", "priority"], ["Container", "state"], ["Container", "uuid"], ["Container", "command"],
        ["Container", "environment"], ["Container", "cwd"], ["Container", "mounts"], ["KeepBuffers"],
        ["Env", "ARVADOS_API_HOST"], ["Env", "ARVADOS_API_TOKEN"], ["Env"], ["Container"], ["Cluster"],
    ]

    static func hostileValue(_ random: inout FuzzRandom, depth: Int = 0) -> JSONValue {
        switch Int.random(in: 0..<10, using: &random) {
        case 0: return .null
        case 1: return .bool(random.chance(0.5))
        case 2, 3: return .int(random.edgyInt64())
        case 4:
            return .double(random.pick([1e30, -1e30, 1e300, -0.0, 0.5, 9.3e18, -9.3e18, 1.7976931348623157e308]))
        case 5, 6: return .string(random.hostileString())
        case 7: return .string(Self.hostileHost(&random))
        case 8 where depth < 3:
            return .array(
                (0..<Int.random(in: 0...3, using: &random)).map { _ in Self.hostileValue(&random, depth: depth + 1) }
            )
        case 9 where depth < 3:
            var object: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...3, using: &random) {
                object[random.pick(["max_run_time", "ram", "vcpus", "x", random.hostileString(maxLength: 8)])] =
                    Self.hostileValue(&random, depth: depth + 1)
            }
            return .object(object)
        default: return .string("")
        }
    }

    /// API addresses, loopback only, in every form a runner might be given (and malformed ones).
    static func hostileHost(_ random: inout FuzzRandom) -> String {
        let host = random.pick(["127.0.0.1", "localhost", "[::1]", "::1", "", "[::1", "127.0.0.1]"])
        let port = random.pick([
            "", ":0", ":1", ":65535", ":65536", ":99999", ":-1", ":", ":9a",
            ":\(Int.random(in: 1...65535, using: &random))",
            ":99999999999999999999",
        ])
        let scheme = random.pick(["", "http://", "https://", "HTTP://", "ftp://", "://", "http:/", "unix://"])
        let tail = random.pick(["", "/", "/arvados", "?x=1", " ", "\n", "@127.0.0.1", "#"])
        let credentials = random.chance(0.1) ? "user:\(Self.token)@" : ""
        return scheme + credentials + host + port + tail
    }

    static func mutate(_ value: JSONValue, at path: ArraySlice<String>, _ random: inout FuzzRandom) -> JSONValue {
        guard let key = path.first else {
            return random.chance(0.1) ? .null : Self.hostileValue(&random)
        }
        guard case .object(var object) = value else { return value }
        if path.count == 1 && random.chance(0.15) {
            object[key] = nil
        } else {
            object[key] = Self.mutate(object[key] ?? .null, at: path.dropFirst(), &random)
        }
        return .object(object)
    }

    /// One to three structured mutations, then sometimes a byte-level one of the serialised text.
    static func mutatedDocument(_ base: JSONValue, _ random: inout FuzzRandom, bytes: Bool) throws -> [UInt8] {
        var document = base
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            document = Self.mutate(document, at: ArraySlice(random.pick(Self.hotPaths)), &random)
        }
        if random.chance(0.05) {
            document = Self.hostileValue(&random)
        }
        // Sorted keys: the same seed mutates the same bytes in every process (dictionary order is per process).
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var text = Array(try encoder.encode(document))
        guard bytes, random.chance(0.3), !text.isEmpty else { return text }
        switch Int.random(in: 0..<5, using: &random) {
        case 0: text.removeLast(Int.random(in: 1...text.count, using: &random))
        case 1: text[Int.random(in: 0..<text.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
        case 2:
            text.insert(
                contentsOf: random.pick(["{", "}", "[", "\"", "\\", "\u{0}", "1e999", ",", "\u{FEFF}"]).utf8,
                at: Int.random(in: 0...text.count, using: &random)
            )
        case 3: text = Array(text.prefix(Int.random(in: 0...text.count, using: &random))) + text
        default: text += Array(" \(random.hostileString())".utf8)
        }
        return text
    }

    /// What the runner's parsing makes of `stdin`, in process: the address it would contact, or its refusal.
    enum Outcome {
        case contacts(APIAddress)
        case refused(RunnerError)
    }

    static let arguments = try! RunnerArguments(parsing: ["--detach", "--stdin-config", uuid.rawValue])

    static func parse(_ stdin: [UInt8]) -> Outcome {
        do {
            let configuration = try RunnerConfiguration.read(
                stdin: Data(stdin),
                arguments: Self.arguments,
                processEnvironment: [:]
            )
            let address = try configuration.apiAddress()
            if let record = configuration.container {
                // The durations and sizes the supervisor uses, in the forms it uses them.
                _ = ContainerSupervisor.watchdogDelay(maxRunTime: record.schedulingParameters.maxRunTime)
                _ = String(record.runtimeConstraints.ram)
                _ = String(record.runtimeConstraints.vcpus)
            }
            _ = try configuration.client()
            return .contacts(address)
        } catch {
            return .refused(error)
        }
    }

    static func checkRefusal(_ error: RunnerError, _ stdin: [UInt8]) {
        #expect(!error.message.isEmpty)
        #expect(!error.message.contains("fuzz-secret-token"), "the token leaked: \(error.message)")
        #expect(
            [.configuration, .usage].contains(error.code),
            "unexpected \(error.code): \(error.message) for \(String(decoding: stdin.prefix(300), as: UTF8.self))"
        )
    }

    // MARK: - Tests

    @Test("Mutated --stdin-config documents: parsing never crashes, refusals are clear and keep the token")
    func inProcess() throws {
        let budget = FuzzBudget(name: "runner-stdin-config", defaultCases: 15_000)
        var random = budget.generator()
        let bases = try [
            Self.baseDocument(host: "http://127.0.0.1:9", record: Self.record(Self.uuid)),
            Self.baseDocument(host: "127.0.0.1:9", record: nil),
            Self.baseDocument(host: "https://[::1]:9", record: Self.record(Self.uuid, state: .running)),
        ]
        let started = ContinuousClock.now
        var refused = 0
        var slowest = Duration.zero
        for _ in 0..<budget.cases {
            let stdin = try Self.mutatedDocument(random.pick(bases), &random, bytes: true)
            let caseStart = ContinuousClock.now
            if case .refused(let error) = Self.parse(stdin) {
                refused += 1
                Self.checkRefusal(error, stdin)
            }
            slowest = max(slowest, ContinuousClock.now - caseStart)
        }
        // No input is slow to refuse or accept (a hang would never get here; this bounds each case).
        #expect(slowest < .seconds(1), "slowest case took \(slowest)")
        budget.report(
            cases: budget.cases,
            elapsed: ContinuousClock.now - started,
            extra: "\(refused) refused, slowest \(slowest)"
        )
    }

    @Test("Mutated container records decode or fail cleanly, and their durations saturate")
    func records() throws {
        let budget = FuzzBudget(name: "runner-container-record", defaultCases: 8_000)
        var random = budget.generator()
        let base = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(Self.record(Self.uuid)))
        let paths: [[String]] = Self.hotPaths.filter { $0.first == "Container" && $0.count > 1 }.map {
            Array($0.dropFirst())
        }
        let started = ContinuousClock.now
        var decoded = 0
        for _ in 0..<budget.cases {
            var record = base
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                record = Self.mutate(record, at: ArraySlice(random.pick(paths)), &random)
            }
            guard let container = try? JSONDecoder().decode(Container.self, from: JSONEncoder().encode(record)) else {
                continue
            }
            decoded += 1
            let seconds = container.schedulingParameters.maxRunTime
            let delay = ContainerSupervisor.watchdogDelay(maxRunTime: seconds)
            if let delay {
                #expect(delay == .seconds(seconds) && seconds > 0)
                // The watchdog's sleep converts to nanoseconds: that must not overflow.
                #expect(!delay.components.seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow)
            }
        }
        budget.report(cases: budget.cases, elapsed: ContinuousClock.now - started, extra: "\(decoded) decoded")
    }

    @Test("Mutated command lines parse or are refused as usage errors")
    func commandLines() {
        let budget = FuzzBudget(name: "runner-arguments", defaultCases: 20_000)
        var random = budget.generator()
        let flags = [
            "--list", "--detach", "--no-detach", "--kill", "-kill=9", "--kill=-1", "--kill=99999999999",
            "--stdin-config",
            "--stdin-env", "--runtime-engine", "--runtime-engine=", "--lock-dir", "--lock-dir=", "-", "--", "---x",
            "--help", "--version", Self.uuid.rawValue, "", "zzzzz-dz642-", "15",
        ]
        let started = ContinuousClock.now
        var accepted = 0
        for _ in 0..<budget.cases {
            let arguments = (0..<Int.random(in: 0...5, using: &random)).map { _ in
                random.chance(0.8) ? random.pick(flags) : random.hostileString(maxLength: 20)
            }
            do {
                let parsed = try RunnerArguments(parsing: arguments)
                accepted += 1
                switch parsed.mode {
                case .detach, .supervise, .kill:
                    // A mode that names a lock file has a well-formed UUID.
                    #expect(parsed.containerUUID != nil, "\(arguments)")
                case .list, .help, .version:
                    break
                }
            } catch {
                #expect(error.code == .usage)
                #expect(!error.message.isEmpty)
            }
        }
        budget.report(cases: budget.cases, elapsed: ContinuousClock.now - started, extra: "\(accepted) accepted")
    }

    @Test("Mutated --stdin-config documents through the real dispatch-runner: exit 1 or 2 in seconds, cause on stderr")
    func throughTheBinary() async throws {
        let budget = FuzzBudget(name: "runner-binary", defaultCases: 60)
        var random = budget.generator()
        let node = try RunnerProcessTests.Node()
        // Nothing listens here: every request the runner makes is refused at once, on this machine.
        let closedPort = try LoopbackPort.free()
        // The record names another container, so no case ever starts a process: the runner must fetch.
        let other: ContainerUUID = "zzzzz-dz642-otherotherother"
        let bases = try [
            Self.baseDocument(host: "http://127.0.0.1:\(closedPort)", record: Self.record(other)),
            Self.baseDocument(host: "127.0.0.1:\(closedPort)", record: nil),
            Self.baseDocument(host: "https://localhost:\(closedPort)", record: Self.record(other)),
        ]
        let loopback: Set<String> = ["127.0.0.1", "localhost", "::1"]
        let started = ContinuousClock.now
        var ran = 0
        var statuses: [Int32: Int] = [:]
        var slowest = Duration.zero
        for _ in 0..<budget.cases {
            let stdin = try Self.mutatedDocument(random.pick(bases), &random, bytes: false)
            // Network safety: the binary runs only documents that contact loopback or nothing at all.
            if case .contacts(let address) = Self.parse(stdin), !loopback.contains(address.bareHost) { continue }
            let text = String(decoding: stdin, as: UTF8.self)
            // Documents that are not UTF-8 text cannot be passed through the helper's stdin file: in-process only.
            guard Array(text.utf8) == stdin else { continue }
            let run = try await RunnerRobustnessTests.runBounded(
                node,
                ["--detach", "--stdin-config", Self.uuid.rawValue],
                stdin: text,
                limit: .seconds(58)
            )
            ran += 1
            slowest = max(slowest, run.elapsed)
            statuses[run.output.status, default: 0] += 1
            let context = "stdin: \(text.prefix(400))\nstderr: \(run.output.stderr)"
            #expect(!run.timedOut, "\(context)")
            // Milliseconds when the machine is quiet; the bound leaves room for a loaded CI host.
            #expect(run.elapsed < .seconds(55), "\(context)")
            #expect([1, 2].contains(run.output.status), "\(context)")
            #expect(run.output.stderr.hasPrefix("dispatch-runner: "), "\(context)")
            #expect(!run.output.stderr.contains("Fatal error"), "\(context)")
            #expect(!run.output.stderr.contains("fuzz-secret-token"), "the token leaked: \(context)")
            #expect(!run.output.stdout.contains("fuzz-secret-token"))
        }
        // Every refusal released its lock: nothing is listed as running or stale.
        #expect(try await node.list() == RunnerList())
        #expect(ran > budget.cases / 2, "only \(ran) of \(budget.cases) cases could run through the binary")
        let summary = statuses.keys.sorted().map { "exit \($0): \(statuses[$0] ?? 0)" }.joined(separator: ", ")
        budget.report(
            cases: ran,
            elapsed: ContinuousClock.now - started,
            extra: "\(summary), slowest \(slowest)"
        )
    }
}
