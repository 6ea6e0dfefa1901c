/// Removes the credentials a URL may carry (`https://user:token@host/`) from text that is printed.
public enum URLCredentials: Sendable {
    /// What replaces the user information of a URL.
    public static let elision = "***"

    /// `text` with the user information of every `scheme://user:password@host` it contains replaced by
    /// `***`: `https://***@host/`.
    public static func elided(in text: String) -> String {
        guard text.contains("@"), text.contains("://") else { return text }
        let scalars = Array(text.unicodeScalars)
        var result = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            // Copy up to and including the next "://".
            if index + 2 < scalars.count, scalars[index] == ":", scalars[index + 1] == "/", scalars[index + 2] == "/" {
                result.append(contentsOf: scalars[index...(index + 2)])
                index += 3
                // The authority runs to the next "/", "?", "#", space, quote or end.
                var end = index
                while end < scalars.count, !Self.endsAuthority(scalars[end]) { end += 1 }
                if let at = scalars[index..<end].lastIndex(of: "@") {
                    result.append(contentsOf: Self.elision.unicodeScalars)
                    result.append(contentsOf: scalars[at..<end])
                } else {
                    result.append(contentsOf: scalars[index..<end])
                }
                index = end
                continue
            }
            result.append(scalars[index])
            index += 1
        }
        return String(result)
    }

    /// A URL as it may be printed: ``elided(in:)``, and for a value without `://` (not a URL, but perhaps
    /// `user:token@host`) everything before its last `@` replaced by `***`.
    public static func displayed(_ value: String) -> String {
        if value.contains("://") { return Self.elided(in: value) }
        guard let at = value.lastIndex(of: "@") else { return value }
        return Self.elision + value[at...]
    }

    private static func endsAuthority(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "/", "?", "#", " ", "\t", "\n", "\r", "\"", "'", ",", "]", "}", ">": return true
        default: return false
        }
    }
}
