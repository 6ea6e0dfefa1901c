import DispatchModel
import Yams

/// Reads typed values out of a composed YAML tree, collecting every error and warning with its key path
/// and line instead of stopping at the first.
///
/// Used synchronously by one load; not shared.
final class ConfigReader {
    private(set) var errors: [ConfigDiagnostic] = []
    private(set) var warnings: [ConfigDiagnostic] = []

    func error(_ path: String, _ message: String, at node: Node?) {
        self.errors.append(ConfigDiagnostic(keyPath: path, message: message, line: node?.mark?.line))
    }

    func error(_ path: String, _ message: String, line: Int?) {
        self.errors.append(ConfigDiagnostic(keyPath: path, message: message, line: line))
    }

    func warning(_ path: String, _ message: String, line: Int?) {
        self.warnings.append(ConfigDiagnostic(keyPath: path, message: message, line: line))
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
        self.error(path, "expected a mapping, got \(Self.kind(of: node))", at: node)
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
    static func scalarValue(_ node: Node) -> ScalarValue? {
        guard case .scalar(let scalar) = node else { return nil }
        switch node.tag.rawValue {
        case Tag.Name.null.rawValue: return .null
        case Tag.Name.bool.rawValue: return node.bool.map(ScalarValue.bool) ?? .string(scalar.string)
        case Tag.Name.int.rawValue: return node.int.map(ScalarValue.int) ?? .string(scalar.string)
        case Tag.Name.float.rawValue: return node.float.map(ScalarValue.float) ?? .string(scalar.string)
        default: return .string(scalar.string)
        }
    }

    /// "a string", "a mapping", … for error messages.
    static func kind(of node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            switch Self.scalarValue(node) {
            case .null: return "nothing"
            case .bool: return "a boolean (\(scalar.string))"
            case .int, .float: return "a number (\(scalar.string))"
            case .string, nil: return "a string (\"\(scalar.string)\")"
            }
        }
    }

    /// The text of any scalar; error for mappings and sequences.
    func string(_ node: Node, at path: String) -> String? {
        guard case .scalar(let scalar) = node else {
            self.error(path, "expected a string, got \(Self.kind(of: node))", at: node)
            return nil
        }
        return scalar.string
    }

    func bool(_ node: Node, at path: String) -> Bool? {
        if case .bool(let value) = Self.scalarValue(node) { return value }
        self.error(path, "expected true or false, got \(Self.kind(of: node))", at: node)
        return nil
    }

    func int(_ node: Node, at path: String) -> Int? {
        if case .int(let value) = Self.scalarValue(node) { return value }
        self.error(path, "expected an integer, got \(Self.kind(of: node))", at: node)
        return nil
    }

    func double(_ node: Node, at path: String) -> Double? {
        switch Self.scalarValue(node) {
        case .int(let value): return Double(value)
        case .float(let value): return value
        default:
            self.error(path, "expected a number, got \(Self.kind(of: node))", at: node)
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
            self.error(path, "expected a duration such as 10s, 1m or 1h, got \(Self.kind(of: node))", at: node)
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
            self.error(path, "expected a byte size such as 4GiB, got \(Self.kind(of: node))", at: node)
            return nil
        }
    }

    /// A list of scalars.
    func stringList(_ node: Node, at path: String) -> [String]? {
        guard case .sequence(let sequence) = node else {
            self.error(path, "expected a list, got \(Self.kind(of: node))", at: node)
            return nil
        }
        var result: [String] = []
        for (index, element) in sequence.enumerated() {
            if let text = self.string(element, at: "\(path)[\(index)]") { result.append(text) }
        }
        return result
    }

    /// A mapping of scalars to scalars.
    func stringMap(_ node: Node, at path: String) -> [String: String]? {
        guard let section = self.section(node, at: path) else { return nil }
        var result: [String: String] = [:]
        for entry in section.entries {
            if let text = self.string(section.take(entry.key)!, at: section.path(entry.key)) {
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
    private var used: Set<String> = []
    private unowned let reader: ConfigReader

    init(path: String, mapping: Node.Mapping, line: Int?, reader: ConfigReader) {
        self.path = path
        self.line = line
        self.entries = mapping.map {
            (key: $0.key.scalar?.string ?? "\($0.key)", keyLine: $0.key.mark?.line, value: $0.value)
        }
        self.reader = reader
    }

    /// The path of a key in this mapping.
    func path(_ key: String) -> String { self.path.isEmpty ? key : "\(self.path).\(key)" }

    /// The line of `key`, if present.
    func line(of key: String) -> Int? {
        self.entries.first { $0.key == key }?.keyLine ?? self.line
    }

    /// The value of `key`, marking it used; nil when absent or null (a null keeps the default).
    func take(_ key: String) -> Node? {
        self.used.insert(key)
        guard let entry = self.entries.first(where: { $0.key == key }) else { return nil }
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

    /// An integer that must be zero or more.
    func nonNegativeInt(_ key: String) -> Int? {
        guard let value = self.int(key) else { return nil }
        guard value >= 0 else {
            self.reader.error(self.path(key), "must not be negative (got \(value))", line: self.line(of: key))
            return nil
        }
        return value
    }

    /// A number that must be zero or more.
    func nonNegativeDouble(_ key: String) -> Double? {
        guard let value = self.double(key) else { return nil }
        guard value >= 0 else {
            self.reader.error(self.path(key), "must not be negative (got \(value))", line: self.line(of: key))
            return nil
        }
        return value
    }
}
