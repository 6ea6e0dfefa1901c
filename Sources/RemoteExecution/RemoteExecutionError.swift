/// A failure to run a command on a remote host (not a command that ran and exited non-zero).
public struct RemoteExecutionError: Error, Sendable, CustomStringConvertible {
    /// A broad classification of the failure that callers switch over.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case noAddress
            case addressNotAllowed
            case connectFailed
            case authFailed
            case hostKeyRejected
            case timedOut
            case channelFailed
            case closed
            case invalidKey
            case unsupportedKey
            case invalidArgument
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The target has no address yet (for example, a VM that is still being created).
        public static let noAddress = Code(.noAddress)
        /// The dial policy forbids the target's address; no connection was attempted.
        public static let addressNotAllowed = Code(.addressNotAllowed)
        /// The TCP connection or the SSH handshake failed.
        public static let connectFailed = Code(.connectFailed)
        /// The server refused the client key.
        public static let authFailed = Code(.authFailed)
        /// The host key could not be verified through the target.
        public static let hostKeyRejected = Code(.hostKeyRejected)
        /// Connecting or authenticating took longer than the configured timeout.
        public static let timedOut = Code(.timedOut)
        /// The server refused to open a session or to run the command, or the session broke.
        public static let channelFailed = Code(.channelFailed)
        /// The executor was closed.
        public static let closed = Code(.closed)
        /// A private key could not be read or parsed.
        public static let invalidKey = Code(.invalidKey)
        /// A private key is of a type or in a form this implementation cannot use.
        public static let unsupportedKey = Code(.unsupportedKey)
        /// A caller-supplied value (such as an environment variable name) is malformed.
        public static let invalidArgument = Code(.invalidArgument)

        public var description: String { "\(self.wrapped)" }
    }

    /// The classification of the failure.
    public var code: Code
    /// What went wrong, for people.
    public var message: String
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    public init(code: Code, message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause = self.cause {
            return "\(self.code): \(self.message) (\(cause))"
        }
        return "\(self.code): \(self.message)"
    }
}
