/// A failure of the runner on the worker VM.
public struct RunnerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A broad classification.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case usage, alreadyRunning, lockDirectory, lockDirectoryBusy, spawn, configuration, api
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The command line is wrong.
        public static let usage = Code(.usage)
        /// A runner for the container already holds its lock.
        public static let alreadyRunning = Code(.alreadyRunning)
        /// The lock directory cannot be used.
        public static let lockDirectory = Code(.lockDirectory)
        /// Another process held the directory lock (`crunch-run-all.lock`) for longer than the runner waits.
        public static let lockDirectoryBusy = Code(.lockDirectoryBusy)
        /// A process could not be started.
        public static let spawn = Code(.spawn)
        /// The configuration on stdin is missing or malformed.
        public static let configuration = Code(.configuration)
        /// The Arvados API refused or failed a call.
        public static let api = Code(.api)

        public var description: String { "\(self.wrapped)" }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }
}
