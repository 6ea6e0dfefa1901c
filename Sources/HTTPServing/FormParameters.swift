import Foundation

/// `application/x-www-form-urlencoded` parsing, for query strings and form bodies.
public enum FormParameters: Sendable {
    /// The decoded name–value pairs of `text`; malformed percent-escapes are kept as they are.
    public static func pairs(_ text: String) -> [(String, String)] {
        text.split(separator: "&").compactMap { item -> (String, String)? in
            guard !item.isEmpty else { return nil }
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (Self.decode(parts[0]), parts.count > 1 ? Self.decode(parts[1]) : "")
        }
    }

    /// Encodes pairs for a query string or form body.
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
    }

    private static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    )

    private static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? text
    }
}
