/// One problem found in a configuration file: where it is and what is wrong.
///
/// Printed as `<keyPath>: <message> (line <n>)`, for example
/// `Clusters.z1234.Containers.CloudVMs.TimeoutIdle: "1 minute" is not a duration (line 12)`.
public struct ConfigDiagnostic: Hashable, Sendable, CustomStringConvertible {
    /// The dotted key path, such as `Clusters.z1234.Containers.CloudVMs.TimeoutIdle`, or the file name
    /// for problems that concern the whole file (YAML syntax).
    public var keyPath: String
    /// What is wrong, for people.
    public var message: String
    /// The 1-based line in the file, when known.
    public var line: Int?

    public init(keyPath: String, message: String, line: Int? = nil) {
        self.keyPath = keyPath
        self.message = message
        self.line = line
    }

    public var description: String {
        let location = self.line.map { " (line \($0))" } ?? ""
        return "\(self.keyPath): \(self.message)\(location)"
    }
}

/// A configuration that could not be loaded, with every problem found.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case unreadableFile
            case syntax
            case invalid
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The file (or a file it refers to) could not be read.
        public static let unreadableFile = Code(.unreadableFile)
        /// The file is not valid YAML.
        public static let syntax = Code(.syntax)
        /// The YAML is well formed, but values are missing, of the wrong type or out of range.
        public static let invalid = Code(.invalid)

        public var description: String { "\(self.wrapped)" }
    }

    public var code: Code
    /// A one-line summary.
    public var message: String
    /// Every error found, in file order. Empty only when the file could not be read at all.
    public var diagnostics: [ConfigDiagnostic]
    /// The warnings found before loading failed.
    public var warnings: [ConfigDiagnostic]
    /// The underlying error, such as a file-system or YAML parser error.
    public var cause: (any Error & Sendable)?

    public init(
        code: Code,
        message: String,
        diagnostics: [ConfigDiagnostic] = [],
        warnings: [ConfigDiagnostic] = [],
        cause: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.diagnostics = diagnostics
        self.warnings = warnings
        self.cause = cause
    }

    /// The message, then one line per diagnostic.
    public var description: String {
        ([self.message] + self.diagnostics.map(\.description)).joined(separator: "\n")
    }
}

/// A configuration loaded without errors, with the warnings found.
public struct LoadedClusterConfig: Sendable {
    /// The effective configuration.
    public var config: ClusterConfig
    /// Unknown keys and other non-fatal problems, in file order.
    public var warnings: [ConfigDiagnostic]

    public init(config: ClusterConfig, warnings: [ConfigDiagnostic]) {
        self.config = config
        self.warnings = warnings
    }
}
