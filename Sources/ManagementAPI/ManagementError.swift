/// A failure of a management operation, with the HTTP status the API answers it with.
///
/// The dispatcher control throws it (an unknown instance is ``Code-swift.struct/notFound``); the routes turn it
/// into `{"errors":["<message>"]}`; ``ManagementClient`` throws it for failed calls.
public struct ManagementError: Error, Sendable, CustomStringConvertible {
    /// A broad classification of the failure that callers switch over.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case badRequest, unauthorized, forbidden, notFound, unavailable, connectionFailed, internalError
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// A parameter is missing or malformed (400).
        public static let badRequest = Code(.badRequest)
        /// No token was sent (401).
        public static let unauthorized = Code(.unauthorized)
        /// The token is wrong, or the server has no management token configured (403).
        public static let forbidden = Code(.forbidden)
        /// No such instance or container (404).
        public static let notFound = Code(.notFound)
        /// The dispatcher cannot do it right now, or is unhealthy (503).
        public static let unavailable = Code(.unavailable)
        /// The client could not reach the server at all (no HTTP status).
        public static let connectionFailed = Code(.connectionFailed)
        /// Anything else (500).
        public static let internalError = Code(.internalError)

        /// The HTTP status the management API answers with.
        public var httpStatus: Int {
            switch self.wrapped {
            case .badRequest: 400
            case .unauthorized: 401
            case .forbidden: 403
            case .notFound: 404
            case .unavailable: 503
            case .connectionFailed, .internalError: 500
            }
        }

        /// The code for an HTTP error status.
        public init(httpStatus: Int) {
            switch httpStatus {
            case 400: self = .badRequest
            case 401: self = .unauthorized
            case 403: self = .forbidden
            case 404: self = .notFound
            case 503: self = .unavailable
            default: self = .internalError
            }
        }

        public var description: String { "\(self.wrapped)" }
    }

    public var code: Code
    /// What went wrong, for people; the API's error body carries it.
    public var message: String
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        guard let cause = self.cause else { return self.message }
        return "\(self.message): \(cause)"
    }
}
