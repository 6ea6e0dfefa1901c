import DispatchConfig
import DispatchTestSupport
import Foundation
import Testing

/// Seeded mutations of valid configurations against the loader (issue 13, deliverable 7): type swaps,
/// huge, negative and non-finite numbers, deep nesting, anchors and aliases, truncation and random bytes.
///
/// Invariants: the loader never crashes, each load finishes within two seconds, every error and warning is
/// one line naming a key, and a configuration that loads renders to YAML that loads again.
/// `DISPATCH_FUZZ_SCALE=N` runs N times as many cases, `DISPATCH_FUZZ_SEED=S` another sequence.
@Suite("Configuration fuzzing")
struct ConfigFuzzTests {
    /// A YAML tree that prints itself in block or flow style.
    indirect enum Tree {
        case scalar(String)
        case map([(String, Tree)])
        case list([Tree])

        func render(indent: Int, into lines: inout [String], prefix: String) {
            let pad = String(repeating: " ", count: indent)
            switch self {
            case .scalar(let text):
                lines.append(pad + prefix + text)
            case .map(let entries) where entries.isEmpty:
                lines.append(pad + prefix + "{}")
            case .list(let elements) where elements.isEmpty:
                lines.append(pad + prefix + "[]")
            case .map(let entries):
                if !prefix.isEmpty { lines.append(pad + prefix.trimmingCharacters(in: .whitespaces)) }
                let inner = prefix.isEmpty ? indent : indent + 2
                for (key, value) in entries {
                    value.render(indent: inner, into: &lines, prefix: "\(key): ")
                }
            case .list(let elements):
                if !prefix.isEmpty { lines.append(pad + prefix.trimmingCharacters(in: .whitespaces)) }
                let inner = prefix.isEmpty ? indent : indent + 2
                for element in elements {
                    element.render(indent: inner, into: &lines, prefix: "- ")
                }
            }
        }

        var yaml: String {
            var lines: [String] = []
            self.render(indent: 0, into: &lines, prefix: "")
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// A valid configuration touching every section the loader reads.
    static let base: Tree = .map([
        (
            "Clusters",
            .map([
                (
                    "z1234",
                    .map([
                        ("SystemRootToken", .scalar("systemroottoken0123456789")),
                        ("ManagementToken", .scalar("managementtoken0123456789")),
                        (
                            "Services",
                            .map([
                                (
                                    "Controller",
                                    .map([
                                        ("ExternalURL", .scalar("\"http://localhost:8000/\"")),
                                        (
                                            "InternalURLs",
                                            .map([
                                                (
                                                    "\"http://localhost:8000/\"",
                                                    .map([("ListenURL", .scalar("\"http://127.0.0.1:8000/\""))])
                                                )
                                            ])
                                        ),
                                    ])
                                ),
                                (
                                    "DispatchCloud",
                                    .map([("InternalURLs", .map([("\"http://localhost:9006/\"", .map([]))]))])
                                ),
                            ])
                        ),
                        ("TLS", .map([("Insecure", .scalar("true"))])),
                        ("API", .map([("MaxConcurrentRequests", .scalar("64"))])),
                        (
                            "Containers",
                            .map([
                                ("RuntimeEngine", .scalar("process")),
                                ("ReserveExtraRAM", .scalar("256MiB")),
                                ("MaximumPriceFactor", .scalar("1.5")),
                                ("PreemptiblePriceFactor", .scalar("0.5")),
                                ("LocalKeepBlobBuffersPerVCPU", .scalar("0")),
                                ("StaleLockTimeout", .scalar("10s")),
                                ("CrunchRunArgumentsList", .list([.scalar("--debug")])),
                                (
                                    "CloudVMs",
                                    .map([
                                        ("Driver", .scalar("loopback")),
                                        ("SSHPort", .scalar("\"22\"")),
                                        ("PollInterval", .scalar("1s")),
                                        ("TimeoutIdle", .scalar("1m")),
                                        ("MaxInstances", .scalar("4")),
                                        ("MaxProbesPerSecond", .scalar("10")),
                                        ("SupervisorFraction", .scalar("0.5")),
                                        ("ResourceTags", .map([("team", .scalar("a"))])),
                                        (
                                            "DriverParameters",
                                            .map([
                                                ("SecretAccessKey", .scalar("driversecret0123456789")),
                                                ("Region", .scalar("us-east-1")),
                                                ("Tags", .list([.scalar("x"), .map([("y", .scalar("1"))])])),
                                            ])
                                        ),
                                    ])
                                ),
                            ])
                        ),
                        (
                            "InstanceTypes",
                            .map([
                                (
                                    "small",
                                    .map([("VCPUs", .scalar("2")), ("RAM", .scalar("4GiB")), ("Price", .scalar("0.1"))])
                                ),
                                (
                                    "big",
                                    .map([
                                        ("VCPUs", .scalar("16")), ("RAM", .scalar("64GiB")), ("Price", .scalar("1.2")),
                                        ("IncludedScratch", .scalar("100GiB")), ("AddedScratch", .scalar("1TiB")),
                                        (
                                            "GPU",
                                            .map([
                                                ("Stack", .scalar("cuda")), ("DeviceCount", .scalar("1")),
                                                ("VRAM", .scalar("16GiB")),
                                            ])
                                        ),
                                    ])
                                ),
                            ])
                        ),
                        (
                            "DispatchCloud",
                            .map([
                                ("DataDirectory", .scalar("/tmp/dispatch-cloud-fuzz")),
                                ("EmbeddedContainerAPI", .scalar("true")),
                                ("SubmitterTokens", .list([.scalar("submittertoken0123456789")])),
                            ])
                        ),
                    ])
                )
            ])
        )
    ])

    /// Secrets in ``base``: never printed by the loader, whatever the mutation.
    static let secrets = [
        "systemroottoken0123456789", "managementtoken0123456789", "driversecret0123456789", "submittertoken0123456789",
    ]

    /// A hostile scalar.
    static func hostileScalar(_ random: inout FuzzRandom) -> String {
        switch Int.random(in: 0..<12, using: &random) {
        case 0: return String(random.edgyInt64())
        case 1:
            return random.pick([
                ".nan", ".NaN", ".inf", "-.inf", "1e999", "-1e999", "1e308", "-0.0", "0x7fffffffffffffff",
            ])
        case 2:
            return random.pick([
                "7EiB", "8EiB", "-7EiB", "9223372036854775807", "-9223372036854775808", "1.5GiB", "99999PiB",
            ])
        case 3:
            return random.pick([
                "300000h", "2562047h", "-2562047h48m", "1ns", "-1s", "0", "1.5h", "9999999999999999999s",
            ])
        case 4:
            return random.pick(["null", "~", "true", "no", "\"\"", "''", "{}", "[]", "!!binary aGVsbG8=", "!!str 5"])
        case 5:
            return random.pick([
                "\"http://localhost:99999/\"", "\"http://localhost:0/\"", "\"http://u:p@localhost/\"", "\"::\"",
                "\"http://[::1/\"", "\"file:///dev/zero\"", "\"file:///etc/hostname\"", "\"file://relative\"",
            ])
        case 6:
            return "\""
                + random.hostileString(maxLength: 40).replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
        case 7: return "&a\(Int.random(in: 0..<3, using: &random)) " + random.pick(["1", "x", "[1, 2]", "{k: v}"])
        case 8: return "*a\(Int.random(in: 0..<3, using: &random))"
        case 9:
            let depth = Int.random(in: 1...200, using: &random)
            return String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        case 10: return String(repeating: "9", count: Int.random(in: 19...40, using: &random))
        default: return random.hostileString(maxLength: 20)
        }
    }

    /// A hostile subtree.
    static func hostileTree(_ random: inout FuzzRandom, depth: Int = 0) -> Tree {
        guard depth < 3, random.chance(0.3) else { return .scalar(Self.hostileScalar(&random)) }
        if random.chance(0.5) {
            return .list(
                (0..<Int.random(in: 0...3, using: &random)).map { _ in Self.hostileTree(&random, depth: depth + 1) }
            )
        }
        return .map(
            (0..<Int.random(in: 0...3, using: &random)).map { index in
                (
                    random.pick(["k\(index)", "VCPUs", "RAM", "Price", "Token", "<<", "\"a b\"", "? x"]),
                    Self.hostileTree(&random, depth: depth + 1)
                )
            }
        )
    }

    /// `tree` with one node replaced, removed, renamed or duplicated somewhere below it.
    static func mutate(_ tree: Tree, _ random: inout FuzzRandom) -> Tree {
        switch tree {
        case .scalar:
            return Self.hostileTree(&random)
        case .list(var elements):
            if elements.isEmpty || random.chance(0.2) { return Self.hostileTree(&random) }
            let index = Int.random(in: 0..<elements.count, using: &random)
            elements[index] = Self.mutate(elements[index], &random)
            return .list(elements)
        case .map(var entries):
            if entries.isEmpty || random.chance(0.08) { return Self.hostileTree(&random) }
            let index = Int.random(in: 0..<entries.count, using: &random)
            switch Int.random(in: 0..<10, using: &random) {
            case 0: entries.remove(at: index)
            case 1:
                entries[index].0 = random.pick(["Unknown", entries[index].0 + "x", "\"\"", "'\(entries[index].0)'"])
            case 2: entries.append(entries[index])  // a duplicate key
            default: entries[index].1 = Self.mutate(entries[index].1, &random)
            }
            return .map(entries)
        }
    }

    /// Text-level damage: truncation, random bytes, a line duplicated or re-indented, an anchor and aliases.
    ///
    /// Sets `aliased` when values were replaced by aliases, which may copy a secret to a key that is not one.
    static func damage(_ text: String, _ random: inout FuzzRandom, aliased: inout Bool) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        switch Int.random(in: 0..<6, using: &random) {
        case 0:
            let utf8 = Array(text.utf8)
            return String(decoding: utf8.prefix(Int.random(in: 0...utf8.count, using: &random)), as: UTF8.self)
        case 1:
            var utf8 = Array(text.utf8)
            for _ in 0..<Int.random(in: 1...8, using: &random) {
                utf8.insert(
                    UInt8.random(in: 0...255, using: &random),
                    at: Int.random(in: 0...utf8.count, using: &random)
                )
            }
            return String(decoding: utf8, as: UTF8.self)
        case 2:
            let index = Int.random(in: 0..<lines.count, using: &random)
            lines.insert(lines[index], at: index)
        case 3:
            let index = Int.random(in: 0..<lines.count, using: &random)
            lines[index] = String(repeating: " ", count: Int.random(in: 0...3, using: &random)) + lines[index]
        case 4:
            // An anchor on one value and aliases to it elsewhere.
            aliased = true
            let candidates = lines.indices.filter { lines[$0].hasSuffix(":") || lines[$0].contains(": ") }
            guard let anchorLine = candidates.randomElement(using: &random) else { break }
            if lines[anchorLine].hasSuffix(":") {
                lines[anchorLine] += " &z"
            } else if let range = lines[anchorLine].range(of: ": ") {
                lines[anchorLine].replaceSubrange(range, with: ": &z ")
            }
            for _ in 0..<Int.random(in: 1...20, using: &random) {
                guard let line = candidates.randomElement(using: &random), line != anchorLine,
                    let range = lines[line].range(of: ": ")
                else { continue }
                lines[line] = String(lines[line][..<range.upperBound]) + "*z"
            }
        default:
            break
        }
        return lines.joined(separator: "\n")
    }

    @Test("seeded mutations never crash or hang the loader, and every diagnostic is one line naming a key")
    func fuzzLoader() throws {
        let budget = FuzzBudget(name: "config-loader", defaultCases: 6_000)
        var random = budget.generator()
        let clock = ContinuousClock()
        let start = clock.now
        var loaded = 0
        var rejected = 0
        var slowest = Duration.zero
        for _ in 0..<budget.cases {
            var tree = Self.base
            for _ in 0..<Int.random(in: 1...2, using: &random) { tree = Self.mutate(tree, &random) }
            var yaml = tree.yaml
            var aliased = false
            if random.chance(0.25) { yaml = Self.damage(yaml, &random, aliased: &aliased) }
            let secrets = aliased ? [] : Self.secrets

            let caseStart = clock.now
            let result = Result { () throws(ConfigError) in try ClusterConfig.load(yaml: yaml) }
            let took = clock.now - caseStart
            slowest = max(slowest, took)
            #expect(took < .seconds(2), "a load took \(took):\n\(yaml)")
            switch result {
            case .success(let config):
                loaded += 1
                Self.checkDiagnostics(config.warnings, secrets: secrets)
                let rendered = try config.config.renderEffectiveYAML()
                for secret in secrets { #expect(!rendered.contains(secret)) }
                do {
                    _ = try ClusterConfig.load(yaml: rendered)
                } catch {
                    Issue.record("the rendering of a loaded configuration does not load: \(error)\n\(yaml)")
                }
            case .failure(let error):
                rejected += 1
                #expect(!error.message.contains("\n"))
                Self.checkDiagnostics(error.diagnostics + error.warnings, secrets: secrets)
            }
        }
        budget.report(
            cases: budget.cases,
            elapsed: clock.now - start,
            extra: "\(loaded) loaded, \(rejected) rejected, slowest load \(slowest)"
        )
    }

    static func checkDiagnostics(_ diagnostics: [ConfigDiagnostic], secrets: [String]) {
        for diagnostic in diagnostics {
            let line = diagnostic.description
            #expect(!line.contains("\n") && !line.contains("\r"), "not one line: \(line)")
            #expect(!diagnostic.keyPath.isEmpty, "names no key: \(line)")
            for secret in secrets { #expect(!line.contains(secret), "prints a secret: \(line)") }
        }
    }
}
