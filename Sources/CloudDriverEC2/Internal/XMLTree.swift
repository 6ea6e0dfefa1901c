import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// An element of a parsed XML document: its name (without namespace prefix), its text and its children.
///
/// EC2's Query API answers in small XML documents; this is the whole DOM the driver needs.
struct XMLTree: Hashable, Sendable {
    var name: String
    var text: String
    var children: [XMLTree]

    init(name: String, text: String = "", children: [XMLTree] = []) {
        self.name = name
        self.text = text
        self.children = children
    }

    /// The first child called `name`.
    func child(_ name: String) -> XMLTree? {
        self.children.first { $0.name == name }
    }

    /// The text of the child at the end of `path` (`"instanceState/name"`), or `nil` if there is none.
    func text(at path: String) -> String? {
        var node = self
        for name in path.split(separator: "/") {
            guard let next = node.child(String(name)) else { return nil }
            node = next
        }
        return node.text
    }

    /// The `item` children of the child `name` (EC2's lists: `<tagSet><item>…</item></tagSet>`).
    func items(_ name: String) -> [XMLTree] {
        self.child(name)?.children.filter { $0.name == "item" } ?? []
    }

    /// The first element called `name` at any depth, this one included, in document order.
    func first(named name: String) -> XMLTree? {
        if self.name == name { return self }
        for child in self.children {
            if let found = child.first(named: name) { return found }
        }
        return nil
    }

    /// Parses `bytes` as an XML document; `nil` if they are not well-formed XML.
    static func parse(_ bytes: [UInt8]) -> XMLTree? {
        let parser = XMLParser(data: Data(bytes))
        let builder = XMLTreeBuilder()
        parser.delegate = builder
        parser.shouldProcessNamespaces = true
        guard parser.parse() else { return nil }
        return builder.root
    }
}

/// Builds an ``XMLTree`` from `XMLParser` callbacks; used by one parse on one thread.
private final class XMLTreeBuilder: NSObject, XMLParserDelegate {
    private var stack: [XMLTree] = []
    private(set) var root: XMLTree?

    func parser(
        _ parser: XMLParser,
        didStartElement elementName: String,
        namespaceURI: String?,
        qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        self.stack.append(XMLTree(name: elementName))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard !self.stack.isEmpty else { return }
        self.stack[self.stack.count - 1].text += string
    }

    func parser(
        _ parser: XMLParser,
        didEndElement elementName: String,
        namespaceURI: String?,
        qualifiedName: String?
    ) {
        guard var element = self.stack.popLast() else { return }
        if !element.children.isEmpty {
            element.text = element.text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if self.stack.isEmpty {
            self.root = element
        } else {
            self.stack[self.stack.count - 1].children.append(element)
        }
    }
}
