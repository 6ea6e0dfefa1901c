/// A failed API call: what kind of failure, a message for people, and the cause.
///
/// The HTTP layer answers with ``Code-swift.struct/httpStatus`` and an Arvados error body,
/// `{"errors": [message], "error_token": "…"}`.
public struct ContainerAPIError: Error, Sendable, CustomStringConvertible {
    /// A broad classification of the failure that callers switch over.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case badRequest, unauthorized, forbidden, notFound, unprocessable, contentTooLarge, `internal`
            case invalidConfiguration
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The request is malformed: a parameter is not valid JSON or has the wrong shape.
        public static let badRequest = Code(.badRequest)
        /// The request carries no token, or a token this server does not know.
        public static let unauthorized = Code(.unauthorized)
        /// The caller may see the object but not change it this way.
        public static let forbidden = Code(.forbidden)
        /// No such object, or the caller may not see it.
        public static let notFound = Code(.notFound)
        /// The request is well formed but breaks a rule: an invalid state transition, an unknown filter
        /// attribute, a read-only field.
        public static let unprocessable = Code(.unprocessable)
        /// The request body is larger than the configured limit.
        public static let contentTooLarge = Code(.contentTooLarge)
        /// The server failed; the message does not say more, the log does.
        public static let `internal` = Code(.internal)
        /// The server's configuration is unusable, such as a malformed cluster ID; it does not start.
        public static let invalidConfiguration = Code(.invalidConfiguration)

        /// The HTTP status code Arvados uses for this kind of failure.
        public var httpStatus: Int {
            switch self.wrapped {
            case .badRequest: 400
            case .unauthorized: 401
            case .forbidden: 403
            case .notFound: 404
            case .unprocessable: 422
            case .contentTooLarge: 413
            case .internal, .invalidConfiguration: 500
            }
        }

        public var description: String { "\(self.wrapped)" }
    }

    public var code: Code
    public var message: String
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
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
