import DispatchModel
import Yams

/// Reads typed values out of a composed YAML tree, collecting every error and warning with its key path
/// and line instead of stopping at the first.
///
/// Used synchronously by one load; not shared.
final class ConfigReader {
    private(set) var errors: [ConfigDiagnostic] = []
    private(set) var warnings: [ConfigDiagnostic] = []
    /// Whether the served URLs' schemes are checked against the TLS material (off for `tls init`, which makes it).
    var checksTransportSecurity = true

    /// Records an error about `node` at `path`.
    ///
    /// Messages never show a secret: where `path` may hold one (see ``isSecretPath(_:)``) the node's text is
    /// replaced wherever the message would quote it, and in every message a URL's credentials are elided.
    func error(_ path: String, _ message: String, at node: Node?) {
        var message = message
        if let text = node?.scalar?.string, !text.isEmpty, Self.isSecretPath(path) {
            message = message.replacing(text, with: Secret.redactedText)
        }
        self.errors.append(Self.diagnostic(path, message, line: node?.mark?.line))
    }

    func error(_ path: String, _ message: String, line: Int?) {
        self.errors.append(Self.diagnostic(path, message, line: line))
    }

    func warning(_ path: String, _ message: String, line: Int?) {
        self.warnings.append(Self.diagnostic(path, message, line: line))
    }

    private static func diagnostic(_ path: String, _ message: String, line: Int?) -> ConfigDiagnostic {
        ConfigDiagnostic(
            keyPath: Self.oneLine(URLCredentials.elided(in: path)),
            message: Self.oneLine(URLCredentials.elided(in: message)),
            line: line
        )
    }

    /// `text` with control characters (newlines included) escaped, so that a diagnostic is one line.
    static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            result += scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return result
    }

    // MARK: Secrets

    /// Whether the value at `path` may be a secret, so messages must not quote it: any part of the path
    /// that names a token, secret, password, key or credential (`SystemRootToken`, `ManagementToken`,
    /// `SubmitterTokens[0]`, `DispatchPrivateKey`, `TLS.Key`, `SecretAccessKey`, ...), anything under `TLS`
    /// or `DriverParameters`.
    static func isSecretPath(_ path: String) -> Bool {
        let lowered = path.lowercased()
        return ["token", "secret", "passw", "key", "credential", "driverparameters", ".tls"].contains {
            lowered.contains($0)
        }
    }

    // MARK: Sections

    /// A mapping node as a section, or nil (with an error unless the node is null) when it is not one.
    func section(_ node: Node, at path: String) -> Section? {
        if case .mapping(let mapping) = node {
            return Section(path: path, mapping: mapping, line: node.mark?.line, reader: self)
        }
        if case .null = Self.scalarValue(node) {
            return Section(path: path, mapping: Node.Mapping([]), line: node.mark?.line, reader: self)
        }
        self.error(path, "expected a mapping, got \(Self.kind(of: node, at: path))", at: node)
        return nil
    }

    /// The sub-section `key` of `parent`, or nil when it is absent, null or not a mapping.
    func section(_ parent: Section, _ key: String) -> Section? {
        guard let node = parent.take(key) else { return nil }
        return self.section(node, at: parent.path(key))
    }

    // MARK: Scalars

    /// A scalar's value after YAML tag resolution.
    enum ScalarValue: Equatable {
        case null
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
    }

    /// The resolved value of a scalar node; nil for mappings and sequences.
    ///
    /// Documents are composed with Yams's rule-less resolver (``composeResolver``), so a plain scalar's tag
    /// is still implicit here and is resolved by ``resolvedTag(ofPlain:)``.
    static func scalarValue(_ node: Node) -> ScalarValue? {
        guard case .scalar(let scalar) = node else { return nil }
        // The tag as written: "" when implicit (plain), "!" when non-specific, else the explicit tag.
        let written = scalar.tag.description
        let tag =
            written.isEmpty
            ? Self.resolvedTag(ofPlain: scalar.string) : (written == "!" ? Tag.Name.str.rawValue : written)
        switch tag {
        case Tag.Name.null.rawValue: return .null
        case Tag.Name.bool.rawValue: return node.bool.map(ScalarValue.bool) ?? .string(scalar.string)
        case Tag.Name.int.rawValue: return node.int.map(ScalarValue.int) ?? .string(scalar.string)
        case Tag.Name.float.rawValue: return node.float.map(ScalarValue.float) ?? .string(scalar.string)
        default: return .string(scalar.string)
        }
    }

    /// The resolver documents are composed with: none of Yams's rules, which run up to seven regular
    /// expressions per scalar (a few seconds for 20,000 instance types). Plain scalars the reader looks at
    /// are resolved by ``resolvedTag(ofPlain:)`` instead; keys and unread values are never resolved.
    static let composeResolver = Resolver.basic

    /// The tag Yams's default rules give a plain scalar, answered without a regular expression for the
    /// shapes that need none: text holding a character that no rule accepts (`4GiB`, `us-east-1a`, `10m`) is
    /// a string, digits without a leading zero an integer, digits with one inner dot a float.
    static func resolvedTag(ofPlain text: String) -> String {
        var digits = 0
        var dots = 0
        var others = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits += 1
            case UInt8(ascii: "."): dots += 1
            default:
                guard Self.ruleBytes.contains(byte) else { return Tag.Name.str.rawValue }
                others += 1
            }
        }
        let utf8 = text.utf8
        if others == 0, let first = utf8.first, let last = utf8.last, first != UInt8(ascii: "."),
            last != UInt8(ascii: ".")
        {
            if dots == 0 && digits <= 18 && (digits == 1 || first != UInt8(ascii: "0")) {
                return Tag.Name.int.rawValue
            }
            if dots == 1 { return Tag.Name.float.rawValue }
        }
        return Resolver.default.resolveTag(of: Node(text)).rawValue
    }

    /// Every byte some rule of Yams's default resolver can match, digits and `.` aside: the letters of
    /// `yes`/`no`/`true`/`false`/`on`/`off`/`null`/`.inf`/`.nan`, hex digits, `0b`/`0o`/`0x`, timestamps'
    /// `T`/`t`/`Z`, signs, `_`, `:`, `~`, `<<`, `=`, space and tab.
    private static let ruleBytes = Set("abcdefilnorstuxyABCDEFILNORSTUYZ+-_:~<= \t".utf8)

    /// "a string (\"abc\")", "a mapping", … for error messages about the value at `path`; the scalar's text
    /// is left out where `path` may hold a secret, and shortened when long.
    static func kind(of node: Node, at path: String) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            let shown = Self.isSecretPath(path) ? nil : Self.shortened(scalar.string)
            switch Self.scalarValue(node) {
            case .null: return "nothing"
            case .bool: return shown.map { "a boolean (\($0))" } ?? "a boolean"
            case .int, .float: return shown.map { "a number (\($0))" } ?? "a number"
            case .string, nil: return shown.map { "a string (\"\($0)\")" } ?? "a string"
            }
        }
    }

    /// `text` cut to 100 characters, on one line.
    static func shortened(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars.prefix(100) {
            result += scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return text.unicodeScalars.count > 100 ? result + "…" : result
    }

    /// The text of any scalar; error for mappings and sequences.
    func string(_ node: Node, at path: String) -> String? {
        guard case .scalar(let scalar) = node else {
            self.error(path, "expected a string, got \(Self.kind(of: node, at: path))", at: node)
            return nil
        }
        return scalar.string
    }

    func bool(_ node: Node, at path: String) -> Bool? {
        if case .bool(let value) = Self.scalarValue(node) { return value }
        self.error(path, "expected true or false, got \(Self.kind(of: node, at: path))", at: node)
        return nil
    }

    func int(_ node: Node, at path: String) -> Int? {
        if case .int(let value) = Self.scalarValue(node) { return value }
        self.error(path, "expected an integer, got \(Self.kind(of: node, at: path))", at: node)
        return nil
    }

    func double(_ node: Node, at path: String) -> Double? {
        switch Self.scalarValue(node) {
        case .int(let value): return Double(value)
        case .float(let value): return value
        default:
            self.error(path, "expected a number, got \(Self.kind(of: node, at: path))", at: node)
            return nil
        }
    }

    /// A Go-style duration string, or a unitless zero.
    func duration(_ node: Node, at path: String) -> Duration? {
        switch Self.scalarValue(node) {
        case .int(0):
            return .zero
        case .int, .float:
            let text = node.scalar?.string ?? ""
            self.error(path, DurationParseError(text: text, reason: .missingUnit).description, at: node)
            return nil
        case .string(let text):
            do {
                return try GoDuration.parse(text)
            } catch {
                self.error(path, error.description, at: node)
                return nil
            }
        case .null, .bool, nil:
            self.error(
                path,
                "expected a duration such as 10s, 1m or 1h, got \(Self.kind(of: node, at: path))",
                at: node
            )
            return nil
        }
    }

    /// A byte count: a YAML integer, or a string such as `550MiB`.
    func byteSize(_ node: Node, at path: String) -> ByteSize? {
        switch Self.scalarValue(node) {
        case .int(let value):
            return ByteSize(Int64(value))
        case .string(let text):
            do {
                return try ByteSize(parsing: text)
            } catch {
                self.error(path, error.description, at: node)
                return nil
            }
        case .float:
            self.error(path, "\(node.scalar?.string ?? "") is not a byte size (fractions are not allowed)", at: node)
            return nil
        case .null, .bool, nil:
            self.error(path, "expected a byte size such as 4GiB, got \(Self.kind(of: node, at: path))", at: node)
            return nil
        }
    }

    /// A list of scalars.
    func stringList(_ node: Node, at path: String) -> [String]? {
        guard case .sequence(let sequence) = node else {
            self.error(path, "expected a list, got \(Self.kind(of: node, at: path))", at: node)
            return nil
        }
        var result: [String] = []
        for (index, element) in sequence.enumerated() {
            if let text = self.string(element, at: "\(path)[\(index)]") { result.append(text) }
        }
        return result
    }

    /// A mapping of scalars to scalars; a null value is the empty string (as Go reads it).
    func stringMap(_ node: Node, at path: String) -> [String: String]? {
        guard let section = self.section(node, at: path) else { return nil }
        var result: [String: String] = [:]
        for entry in section.entries {
            guard let value = section.take(entry.key) else {
                result[entry.key] = ""
                continue
            }
            if let text = self.string(value, at: section.path(entry.key)) {
                result[entry.key] = text
            }
        }
        return result
    }

    /// Any tree, as JSON.
    func json(_ node: Node) -> JSONValue {
        switch node {
        case .mapping(let mapping):
            var members: [String: JSONValue] = [:]
            for (key, value) in mapping { members[key.scalar?.string ?? "\(key)"] = self.json(value) }
            return .object(members)
        case .sequence(let sequence):
            return .array(sequence.map { self.json($0) })
        case .scalar, .alias:
            switch Self.scalarValue(node) {
            case .null, nil: return .null
            case .bool(let value): return .bool(value)
            case .int(let value): return .int(Int64(value))
            case .float(let value): return .double(value)
            case .string(let value): return .string(value)
            }
        }
    }
}

/// One mapping being read: hands out its values by key and remembers which keys were used, so the rest
/// can be reported as unknown.
final class Section {
    /// The dotted path of the mapping itself; empty for the document root.
    let path: String
    /// The line of the mapping, when known.
    let line: Int?
    /// The entries in file order.
    let entries: [(key: String, keyLine: Int?, value: Node)]
    /// The position in ``entries`` of each key, so that looking a key up costs the same in a mapping of
    /// 20,000 instance types as in one of five keys.
    private let positions: [String: Int]
    private var used: Set<String> = []
    private unowned let reader: ConfigReader

    init(path: String, mapping: Node.Mapping, line: Int?, reader: ConfigReader) {
        self.path = path
        self.line = line
        self.entries = mapping.map {
            (
                key: $0.key.scalar?.string ?? "<\(ConfigReader.kind(of: $0.key, at: path))>",
                keyLine: $0.key.mark?.line, value: $0.value
            )
        }
        var positions: [String: Int] = [:]
        positions.reserveCapacity(self.entries.count)
        for (index, entry) in self.entries.enumerated() where positions[entry.key] == nil {
            positions[entry.key] = index
        }
        self.positions = positions
        self.reader = reader
    }

    /// The path of a key in this mapping.
    func path(_ key: String) -> String {
        let shown = key.isEmpty ? "\"\"" : key
        return self.path.isEmpty ? shown : "\(self.path).\(shown)"
    }

    /// The line of `key`, if present.
    func line(of key: String) -> Int? {
        self.positions[key].flatMap { self.entries[$0].keyLine } ?? self.line
    }

    /// The value of `key`, marking it used; nil when absent or null (a null keeps the default).
    func take(_ key: String) -> Node? {
        self.used.insert(key)
        guard let position = self.positions[key] else { return nil }
        let entry = self.entries[position]
        if case .null = ConfigReader.scalarValue(entry.value) { return nil }
        return entry.value
    }

    /// Warns about every key that was neither read nor listed in `known`.
    func finish(known: Set<String> = []) {
        for entry in self.entries where !self.used.contains(entry.key) && !known.contains(entry.key) {
            self.reader.warning(self.path(entry.key), "unknown key, ignored", line: entry.keyLine)
        }
    }

    // Typed accessors: nil when absent, null or invalid (the error is recorded).

    func string(_ key: String) -> String? { self.take(key).flatMap { self.reader.string($0, at: self.path(key)) } }
    func bool(_ key: String) -> Bool? { self.take(key).flatMap { self.reader.bool($0, at: self.path(key)) } }
    func int(_ key: String) -> Int? { self.take(key).flatMap { self.reader.int($0, at: self.path(key)) } }
    func double(_ key: String) -> Double? { self.take(key).flatMap { self.reader.double($0, at: self.path(key)) } }
    func duration(_ key: String) -> Duration? {
        self.take(key).flatMap { self.reader.duration($0, at: self.path(key)) }
    }
    func byteSize(_ key: String) -> ByteSize? {
        self.take(key).flatMap { self.reader.byteSize($0, at: self.path(key)) }
    }
    func stringList(_ key: String) -> [String]? {
        self.take(key).flatMap { self.reader.stringList($0, at: self.path(key)) }
    }
    func stringMap(_ key: String) -> [String: String]? {
        self.take(key).flatMap { self.reader.stringMap($0, at: self.path(key)) }
    }

    /// The largest count (of instances, requests, VCPUs, buffers, ...) accepted: a billion, so that the sums
    /// and the product of two counts the components compute fit in 64 bits.
    static let maxCount = 1_000_000_000

    /// An integer between `-maxCount` and `maxCount` (negative values mean "the default" for some keys).
    func boundedInt(_ key: String) -> Int? {
        guard let value = self.int(key) else { return nil }
        guard value.magnitude <= Self.maxCount else {
            self.reader.error(
                self.path(key),
                "must be between -\(Self.maxCount) and \(Self.maxCount) (got \(value))",
                line: self.line(of: key)
            )
            return nil
        }
        return value
    }

    /// A count: an integer from zero to `maxCount`.
    func nonNegativeInt(_ key: String) -> Int? {
        guard let value = self.int(key) else { return nil }
        guard value >= 0 else {
            self.reader.error(self.path(key), "must not be negative (got \(value))", line: self.line(of: key))
            return nil
        }
        guard value <= Self.maxCount else {
            self.reader.error(
                self.path(key),
                "must be at most \(Self.maxCount) (got \(value))",
                line: self.line(of: key)
            )
            return nil
        }
        return value
    }

    /// A finite number (not `.nan` or `.inf`).
    func finiteDouble(_ key: String) -> Double? {
        guard let value = self.double(key) else { return nil }
        guard value.isFinite else {
            self.reader.error(self.path(key), "must be a finite number (got \(value))", line: self.line(of: key))
            return nil
        }
        return value
    }

    /// A finite number that must be zero or more.
    func nonNegativeDouble(_ key: String) -> Double? {
        guard let value = self.finiteDouble(key) else { return nil }
        guard value >= 0 else {
            self.reader.error(self.path(key), "must not be negative (got \(value))", line: self.line(of: key))
            return nil
        }
        return value
    }
}
