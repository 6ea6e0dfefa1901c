import DispatchModel

/// The discovery document Arvados SDKs bootstrap from, describing only what this server implements.
///
/// It is Arvados's own document cut down to the served methods and schemas (see
/// `scripts/generate-discovery-subset.py`), with `rootUrl` and `baseUrl` pointing at this server.
enum DiscoveryDocument {
    /// The parsed subset; `nil` only if the embedded text were broken, which a test rules out.
    static let subset: [String: JSONValue]? = (try? WireJSON.parse(Array(Self.subsetJSON.utf8)))?.objectValue

    /// The document for clients that reach the server at `rootURL` (ending in `/`).
    static func document(rootURL: String) -> JSONValue {
        var document = Self.subset ?? [:]
        let root = rootURL.hasSuffix("/") ? rootURL : rootURL + "/"
        document["rootUrl"] = .string(root)
        document["servicePath"] = .string("arvados/v1/")
        document["basePath"] = .string("/arvados/v1/")
        document["baseUrl"] = .string(root + "arvados/v1/")
        return .object(document)
    }
}
