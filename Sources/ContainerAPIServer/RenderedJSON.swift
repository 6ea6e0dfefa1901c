import DispatchModel

/// JSON text assembled from documents that are already rendered, without parsing them into values.
///
/// The store keeps each container's API JSON exactly as `GET` returns it (compact, keys sorted, `kind` included),
/// so a response is the stored bytes, or, for a `select`, the stored members it names copied in their order. The
/// scanner here only finds where each top-level member begins and ends; it trusts the document to be valid JSON,
/// which holds because the store wrote it.
enum RenderedJSON {
    /// The names a `select` keeps, as UTF-8, always with `kind`; `nil` keeps every member.
    struct Selection: Sendable {
        fileprivate var names: [[UInt8]]

        init?(_ select: [String]?) {
            guard let select else { return nil }
            var names = Set(select)
            names.insert("kind")
            self.names = names.sorted().map { Array($0.utf8) }
        }

        fileprivate func contains(_ key: UnsafeRawBufferPointer) -> Bool {
            for name in self.names where name.count == key.count {
                let same = name.withUnsafeBytes { name in
                    name.elementsEqual(key)
                }
                if same { return true }
            }
            return false
        }
    }

    /// Appends the JSON object `document`, cut down to `selection` if there is one, to `output`.
    static func appendObject(_ document: UnsafeRawBufferPointer, selection: Selection?, to output: inout [UInt8]) {
        guard let selection else {
            output.append(contentsOf: document)
            return
        }
        output.append(UInt8(ascii: "{"))
        var first = true
        Self.forEachMember(of: document) { key, member in
            guard selection.contains(key) else { return }
            if !first {
                output.append(UInt8(ascii: ","))
            }
            first = false
            output.append(contentsOf: member)
        }
        output.append(UInt8(ascii: "}"))
    }

    /// The JSON object `document`, cut down to `selection` if there is one.
    static func object(_ document: [UInt8], selection: Selection?) -> [UInt8] {
        guard selection != nil else { return document }
        var output: [UInt8] = []
        output.reserveCapacity(document.count)
        document.withUnsafeBytes { document in
            Self.appendObject(document, selection: selection, to: &output)
        }
        return output
    }

    /// Calls `body` with the key (without its quotes) and the whole `"key":value` text of each top-level member of
    /// the object `document`, in document order.
    static func forEachMember(
        of document: UnsafeRawBufferPointer,
        _ body: (_ key: UnsafeRawBufferPointer, _ member: UnsafeRawBufferPointer) -> Void
    ) {
        let end = document.count
        var index = Self.skipWhitespace(document, from: 0)
        guard index < end, document[index] == UInt8(ascii: "{") else { return }
        index += 1
        while true {
            index = Self.skipWhitespace(document, from: index)
            guard index < end, document[index] == UInt8(ascii: "\"") else { return }
            let memberStart = index
            let keyEnd = Self.endOfString(document, from: index)
            let key = UnsafeRawBufferPointer(rebasing: document[(index + 1)..<(keyEnd - 1)])
            index = Self.skipWhitespace(document, from: keyEnd)
            guard index < end, document[index] == UInt8(ascii: ":") else { return }
            index = Self.endOfValue(document, from: index + 1)
            body(key, UnsafeRawBufferPointer(rebasing: document[memberStart..<index]))
            index = Self.skipWhitespace(document, from: index)
            guard index < end, document[index] == UInt8(ascii: ",") else { return }
            index += 1
        }
    }

    /// The index just past the string whose opening quote is at `start`.
    private static func endOfString(_ text: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start + 1
        while index < text.count {
            switch text[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index + 1
            default: index += 1
            }
        }
        return text.count
    }

    /// The index just past the value that starts at or after `start`: where the `,` or `}` after it is.
    private static func endOfValue(_ text: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        var depth = 0
        var lastSignificant = start
        while index < text.count {
            switch text[index] {
            case UInt8(ascii: "\""):
                index = Self.endOfString(text, from: index)
                lastSignificant = index
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 { return lastSignificant }
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 0 { return lastSignificant }
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                index += 1
                continue
            default:
                break
            }
            index += 1
            lastSignificant = index
        }
        return lastSignificant
    }

    private static func skipWhitespace(_ text: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        while index < text.count {
            switch text[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return index
            }
        }
        return index
    }

    /// The envelope of a list response around `items`, the text of a JSON array, with its keys in sorted order as
    /// ``WireJSON/bytes(_:)`` would write them.
    static func listEnvelope(kind: String, items: [UInt8], available: Int?, offset: Int, limit: Int) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(items.count + 160)
        output.append(contentsOf: #"{"etag":"","items":"#.utf8)
        output.append(contentsOf: items)
        if let available {
            output.append(contentsOf: #","items_available":"#.utf8)
            output.append(contentsOf: String(available).utf8)
        }
        output.append(contentsOf: #","kind":"#.utf8)
        output.append(contentsOf: WireJSON.bytes(.string(kind)))
        output.append(contentsOf: #","limit":"#.utf8)
        output.append(contentsOf: String(limit).utf8)
        output.append(contentsOf: #","offset":"#.utf8)
        output.append(contentsOf: String(offset).utf8)
        output.append(contentsOf: #","self_link":""}"#.utf8)
        return output
    }
}
