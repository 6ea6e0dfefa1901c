import Yams

/// One configuration key set from the command line (`--set KEY.PATH=VALUE`), applied to the document before
/// it is read, so the value is checked like the file's own.
///
/// The path is dotted and relative to the only cluster (`Containers.CloudVMs.MaxInstances`), or absolute
/// from `Clusters`. The value is YAML: `128`, `10m`, `true`, `[a, b]`, `{Min: 1s, Max: 2s}`.
public struct ConfigOverride: Hashable, Sendable, CustomStringConvertible {
    public var path: [String]
    public var value: String

    public init(path: [String], value: String) {
        self.path = path
        self.value = value
    }

    /// Parses `KEY.PATH=VALUE`; throws naming what is wrong.
    public init(parsing text: String) throws(ConfigError) {
        guard let equals = text.firstIndex(of: "=") else {
            throw ConfigError(code: .invalid, message: "--set \(text): expected KEY.PATH=VALUE")
        }
        let path = text[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !path.isEmpty, path.allSatisfy({ !$0.isEmpty }) else {
            throw ConfigError(code: .invalid, message: "--set \(text): the key path has an empty part")
        }
        self.init(path: path, value: String(text[text.index(after: equals)...]))
    }

    public var description: String { "\(self.path.joined(separator: "."))=\(self.value)" }

    /// The document with the value set (mappings made on the way as needed).
    func applied(to root: Node?) throws(ConfigError) -> Node? {
        var path = self.path
        if path.first != "Clusters" {
            guard let clusters = root?.mapping?["Clusters"]?.mapping, clusters.count == 1,
                let id = clusters.keys.first?.string
            else {
                throw ConfigError(
                    code: .invalid,
                    message: "--set \(self): the file must hold exactly one cluster (or give Clusters.<id>.…)"
                )
            }
            path = ["Clusters", id] + path
        }
        let value: Node
        do {
            value = try Yams.compose(yaml: self.value, ConfigReader.composeResolver) ?? Node("")
        } catch {
            throw ConfigError(code: .invalid, message: "--set \(self): the value is not YAML")
        }
        return Self.setting(path[...], to: value, in: root)
    }

    private static func setting(_ path: ArraySlice<String>, to value: Node, in node: Node?) -> Node {
        guard let key = path.first else { return value }
        var mapping = node?.mapping ?? Node.Mapping([])
        mapping[key] = Self.setting(path.dropFirst(), to: value, in: mapping[key])
        return .mapping(mapping)
    }
}
