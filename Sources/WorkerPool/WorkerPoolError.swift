/// A request to the worker pool failed.
public struct WorkerPoolError: Error, Sendable, CustomStringConvertible {
    /// A broad classification of the failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case instanceNotFound
            case runnerBinaryUnreadable
            case notQuarantined
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// No worker has the given instance ID.
        public static let instanceNotFound = Code(.instanceNotFound)
        /// `DeployRunnerBinary` cannot be read, so no worker can pass its boot probe.
        public static let runnerBinaryUnreadable = Code(.runnerBinaryUnreadable)
        /// No quarantine holds the given instance type.
        public static let notQuarantined = Code(.notQuarantined)

        public var description: String { "\(self.wrapped)" }
    }

    /// The classification of the failure.
    public var code: Code
    /// What happened, for people.
    public var message: String
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    public init(code: Code, message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        var text = "WorkerPoolError.\(self.code): \(self.message)"
        if let cause = self.cause { text += " (cause: \(cause))" }
        return text
    }
}
