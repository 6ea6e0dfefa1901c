import DispatchConfig

/// Why the dispatcher cannot start.
public struct DispatcherError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case configuration
            case dataDirectory
            case alreadyRunning
            case addressInUse
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// A configuration value is missing or unusable; the message names the key.
        public static let configuration = Code(.configuration)
        /// The data directory cannot be created, locked or used.
        public static let dataDirectory = Code(.dataDirectory)
        /// Another dispatcher holds the data directory.
        public static let alreadyRunning = Code(.alreadyRunning)
        /// An address the daemon must listen on is taken or unusable; the message names it and its key.
        public static let addressInUse = Code(.addressInUse)

        public var description: String { "\(self.wrapped)" }
    }

    public var code: Code
    public var message: String

    /// An error of kind `code`; any URL credentials in `message` (`https://user:token@host/`) are elided, since
    /// dispatcher errors are printed and logged.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = URLCredentials.elided(in: message)
    }

    public var description: String { self.message }
}
