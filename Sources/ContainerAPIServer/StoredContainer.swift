import DispatchModel

/// A container with its stored JSON, which is byte for byte what `GET` returns for it.
struct StoredContainer: Sendable {
    var container: Container
    /// The compact JSON object with every attribute of the API (absent ones as `null`) and `kind`, keys sorted.
    var document: [UInt8]

    /// The document as the text the `document` column holds.
    var documentText: String {
        String(decoding: self.document, as: UTF8.self)
    }
}
