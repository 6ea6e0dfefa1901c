import Foundation

/// An Arvados `TLS.Certificate` or `TLS.Key` value: `file:///path` (or an absolute path) names a PEM file,
/// anything starting with `-----BEGIN` is the PEM itself.
public enum PEMValue: Sendable {
    /// PEM files larger than this are refused: a certificate chain is a few kilobytes.
    public static let maximumBytes = 1 << 20

    /// Whether `value` is in one of the two accepted forms (not whether it holds a usable certificate).
    public static func isWellFormed(_ value: String) -> Bool {
        Self.path(of: value) != nil || Self.isInline(value)
    }

    /// The PEM text `value` holds or names.
    ///
    /// - Parameter key: the configuration key, such as `TLS.Certificate`, for the error message.
    public static func load(_ value: String, key: String) throws(TLSError) -> [UInt8] {
        if Self.isInline(value) { return Array(value.utf8) }
        guard let path = Self.path(of: value) else {
            throw TLSError(
                .invalidValue,
                "\(key) is neither a file:// URL, an absolute path nor inline PEM (-----BEGIN …)"
            )
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw TLSError(.unreadable, "\(key): cannot read \(path)")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: Self.maximumBytes + 1) ?? Data()
        } catch {
            throw TLSError(.unreadable, "\(key): cannot read \(path)", cause: error)
        }
        guard data.count <= Self.maximumBytes else {
            throw TLSError(.unreadable, "\(key): \(path) is larger than \(Self.maximumBytes) bytes")
        }
        return Array(data)
    }

    /// The file path of a `file://` value, else `nil`.
    public static func path(of value: String) -> String? {
        if value.hasPrefix("/"), value.count > 1 { return value }
        guard value.hasPrefix("file://") else { return nil }
        let path = String(value.dropFirst("file://".count))
        guard path.hasPrefix("/"), path.count > 1 else { return nil }
        return path.removingPercentEncoding ?? path
    }

    private static func isInline(_ value: String) -> Bool {
        value.drop(while: { $0.isWhitespace }).hasPrefix("-----BEGIN")
    }
}
