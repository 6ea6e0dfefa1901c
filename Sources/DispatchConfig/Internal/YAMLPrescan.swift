import CYaml

/// Bounds on the shape of a configuration document, checked on libyaml's event stream before the document
/// is composed into a tree.
///
/// Composing follows every alias (`*name`) to a copy of the anchored node, and everything that walks the
/// tree afterwards (hashing mapping keys, reading `DriverParameters` into JSON) visits each copy. Ten
/// aliases of ten aliases, nine levels deep (a "billion laughs"), is a few hundred bytes of text and a
/// billion nodes. Counting on the events instead costs one pass over the text: each anchor's expanded size
/// is remembered when its node ends, and each alias adds that size.
struct YAMLShapeLimits: Sendable {
    /// The most nodes that aliases may add to the document, counted after expansion.
    var maxAliasExpansion = 200_000
    /// The deepest nesting of mappings and sequences (a cluster configuration needs about eight).
    var maxDepth = 64
    /// The largest document, in bytes of UTF-8.
    var maxBytes = 16 << 20

    static let standard = YAMLShapeLimits()
}

enum YAMLPrescan {
    /// The first bound `text` breaks, with the key path and line where it does; nil when the document
    /// respects them (or is not valid YAML, which composing reports with its own message).
    static func check(_ text: String, limits: YAMLShapeLimits = .standard) -> ConfigDiagnostic? {
        if text.utf8.count > limits.maxBytes {
            return ConfigDiagnostic(
                keyPath: "",
                message: "the document is \(text.utf8.count) bytes, more than the limit of \(limits.maxBytes)"
            )
        }
        var text = text
        return text.withUTF8 { bytes in
            var scanner = Scanner(limits: limits)
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else { return nil }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(&parser, bytes.baseAddress, bytes.count)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { return nil }
                if let problem = scanner.consume(&event) { return problem }
            }
        }
    }

    /// The state of one pass over the events.
    private struct Scanner {
        /// One open mapping or sequence.
        struct Frame {
            var isMapping: Bool
            var anchor: String?
            /// Nodes in the collection so far, aliases expanded, the collection itself included.
            var size = 1
            /// For a mapping: whether the next node is a key.
            var expectingKey = true
            /// For a mapping: the last key read (nil when it is not a scalar).
            var key: String?
            /// For a sequence: the index of the next element.
            var index = 0
        }

        let limits: YAMLShapeLimits
        var stack: [Frame] = []
        /// The expanded size of each anchored node of the current document.
        var anchors: [String: Int] = [:]
        /// Nodes added by aliases so far.
        var expanded = 0

        init(limits: YAMLShapeLimits) { self.limits = limits }

        mutating func consume(_ event: inout yaml_event_t) -> ConfigDiagnostic? {
            let line = Int(clamping: event.start_mark.line) &+ 1
            switch event.type {
            case YAML_DOCUMENT_START_EVENT:
                self.anchors = [:]
                self.stack = []
            case YAML_SCALAR_EVENT:
                let key =
                    self.nextIsKey
                    ? Self.string(event.data.scalar.value, length: event.data.scalar.length) : nil
                self.record(size: 1, anchor: Self.string(event.data.scalar.anchor), key: key)
            case YAML_ALIAS_EVENT:
                let name = Self.string(event.data.alias.anchor) ?? ""
                let size = self.anchors[name] ?? 1
                let path = self.pathOfNextNode
                self.expanded = Self.add(self.expanded, size)
                if self.expanded > self.limits.maxAliasExpansion {
                    return ConfigDiagnostic(
                        keyPath: path,
                        message:
                            "alias *\(Self.printable(name)) makes the document too large: aliases may add at most "
                            + "\(self.limits.maxAliasExpansion) nodes in all (write the values out, or use fewer aliases)",
                        line: line
                    )
                }
                self.record(size: size, anchor: nil, key: nil)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let isMapping = event.type == YAML_MAPPING_START_EVENT
                let anchor = Self.string(isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor)
                if self.stack.count >= self.limits.maxDepth {
                    return ConfigDiagnostic(
                        keyPath: self.pathOfNextNode,
                        message: "nested more than \(self.limits.maxDepth) levels deep",
                        line: line
                    )
                }
                self.stack.append(Frame(isMapping: isMapping, anchor: anchor))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = self.stack.popLast() else { return nil }
                self.record(size: frame.size, anchor: frame.anchor, key: nil)
            default:
                break
            }
            return nil
        }

        /// Whether the next node is a mapping key.
        private var nextIsKey: Bool { self.stack.last.map { $0.isMapping && $0.expectingKey } ?? false }

        /// The key path of the node that comes next (built only for a message).
        private var pathOfNextNode: String {
            var path = ""
            for frame in self.stack {
                guard frame.isMapping else {
                    path += "[\(frame.index)]"
                    continue
                }
                // A mapping waiting for a key is the last frame: the next node is that key.
                if frame.expectingKey { break }
                let key = frame.key.map { $0.isEmpty ? "\"\"" : Self.printable($0) } ?? "<complex key>"
                path += path.isEmpty ? key : ".\(key)"
            }
            return path
        }

        /// Adds a finished node of `size` nodes to the collection holding it.
        private mutating func record(size: Int, anchor: String?, key: String?) {
            if let anchor { self.anchors[anchor] = size }
            guard !self.stack.isEmpty else { return }
            let top = self.stack.count - 1
            self.stack[top].size = Self.add(self.stack[top].size, size)
            if self.stack[top].isMapping {
                if self.stack[top].expectingKey { self.stack[top].key = key }
                self.stack[top].expectingKey.toggle()
            } else {
                self.stack[top].index &+= 1
            }
        }

        private static func add(_ a: Int, _ b: Int) -> Int {
            let (sum, overflow) = a.addingReportingOverflow(b)
            return overflow ? .max : sum
        }

        private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            guard let pointer else { return nil }
            return String(cString: pointer)
        }

        private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, length: Int) -> String? {
            guard let pointer else { return nil }
            return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
        }

        /// A name or key for a one-line message: at most 80 characters, control characters escaped.
        static func printable(_ text: String) -> String {
            var result = ""
            for scalar in text.unicodeScalars.prefix(80) {
                result += scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
            }
            return text.unicodeScalars.count > 80 ? result + "…" : result
        }
    }
}
