/// The Arvados API address a runner is given in `ARVADOS_API_HOST`, checked before anything depends on it.
///
/// Arvados sends `host[:port]` without a scheme, which means HTTPS (`crunch-run` prepends `https://`);
/// DispatchCloud's dispatcher sends a URL. Both are accepted: a scheme-less value means `https://`, and
/// `http://` and `https://` URLs are used as given. Nothing else is: another scheme, credentials in the
/// address, an empty host, a port outside 1–65535, spaces or control characters. Error messages name the
/// variable and the problem, never the whole value (it may carry credentials).
public struct APIAddress: Hashable, Sendable, CustomStringConvertible {
    /// `http` or `https`.
    public var scheme: String
    /// The host name, IPv4 address, or bracketed IPv6 address.
    public var host: String
    /// The TCP port (443 or 80 when the address names none).
    public var port: Int
    /// The path after the authority, if any (`""` or starting with `/`).
    public var path: String

    /// The environment variable the address comes from.
    public static let variable = "ARVADOS_API_HOST"

    public init(parsing value: String) throws(RunnerError) {
        guard !value.isEmpty else { throw Self.problem("is empty") }
        guard value.utf8.count <= 2048 else { throw Self.problem("is longer than 2048 bytes") }
        guard value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && $0.isASCII }) else {
            throw Self.problem("holds spaces, control characters or non-ASCII characters")
        }
        var rest = Substring(value)
        if let separator = value.firstRange(of: "://") {
            let scheme = value[..<separator.lowerBound].lowercased()
            guard scheme == "http" || scheme == "https" else {
                throw Self.problem("has the scheme \"\(scheme.prefix(16))\"; use host[:port], http:// or https://")
            }
            self.scheme = scheme
            rest = value[separator.upperBound...]
        } else {
            self.scheme = "https"
        }
        let authority = rest.prefix(while: { $0 != "/" })
        self.path = String(rest.dropFirst(authority.count))
        guard !authority.contains("@") else {
            throw Self.problem("holds credentials; the token belongs in ARVADOS_API_TOKEN")
        }
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw Self.problem("has an unclosed \"[\"") }
            let inside = authority[authority.index(after: authority.startIndex)..<close]
            guard !inside.isEmpty, inside.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw Self.problem("has a malformed IPv6 address")
            }
            self.host = String(authority[...close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Self.problem("has text after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else {
            let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw Self.problem("has more than one \":\" (an IPv6 address needs [ ])") }
            self.host = String(parts[0])
            if parts.count == 2 { portText = parts[1] }
            guard
                self.host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" })
            else {
                throw Self.problem("has a host name with characters other than letters, digits, \"-\", \"_\" and \".\"")
            }
        }
        guard !self.host.isEmpty else { throw Self.problem("names no host") }
        if let portText {
            guard portText.count <= 5, let port = Int(portText), (1...65535).contains(port) else {
                throw Self.problem("has a port that is not a number from 1 to 65535")
            }
            self.port = port
        } else {
            self.port = self.scheme == "https" ? 443 : 80
        }
    }

    /// The API root URL: scheme, host, port (when not the scheme's default) and path.
    public var description: String {
        let defaultPort = self.scheme == "https" ? 443 : 80
        return "\(self.scheme)://\(self.host)" + (self.port == defaultPort ? "" : ":\(self.port)") + self.path
    }

    /// The host without IPv6 brackets, as a socket address look-up wants it.
    public var bareHost: String {
        self.host.hasPrefix("[") ? String(self.host.dropFirst().dropLast()) : self.host
    }

    private static func problem(_ text: String) -> RunnerError {
        RunnerError(.configuration, "\(Self.variable) \(text)")
    }
}
