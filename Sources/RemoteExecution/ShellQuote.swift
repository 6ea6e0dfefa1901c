/// POSIX shell quoting for command lines sent to a remote shell.
public enum ShellQuote: Sendable {
    /// Quotes `word` so that a POSIX shell reads it back as exactly one word with the same bytes.
    ///
    /// The word is wrapped in single quotes, and each embedded `'` becomes `'\''`.
    public static func quote(_ word: String) -> String {
        var quoted = "'"
        for character in word {
            if character == "'" {
                quoted += #"'\''"#
            } else {
                quoted.append(character)
            }
        }
        quoted += "'"
        return quoted
    }

    /// Quotes each word and joins them with spaces.
    public static func join(_ words: [String]) -> String {
        words.map(Self.quote).joined(separator: " ")
    }

    /// Returns `command` prefixed with `NAME='value' ` assignments for each variable, sorted by name.
    ///
    /// Throws ``RemoteExecutionError/Code-swift.struct/invalidArgument`` when a name is not a valid shell
    /// variable name (`[A-Za-z_][A-Za-z0-9_]*`).
    public static func command(_ command: String, environment: [String: String]) throws -> String {
        var prefix = ""
        for name in environment.keys.sorted() {
            guard Self.isValidVariableName(name) else {
                throw RemoteExecutionError(
                    code: .invalidArgument,
                    message: "invalid environment variable name \(Self.quote(name))"
                )
            }
            prefix += "\(name)=\(Self.quote(environment[name] ?? "")) "
        }
        return prefix + command
    }

    /// Whether `name` may be used as a shell variable name.
    public static func isValidVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return false
        }
        return name.utf8.allSatisfy { byte in
            byte == UInt8(ascii: "_")
                || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
    }
}
