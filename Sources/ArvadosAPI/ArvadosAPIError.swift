/// A failed call to the Arvados API.
public struct ArvadosAPIError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A broad classification callers switch over.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case badRequest, unauthorized, forbidden, notFound, conflict, unprocessable, serviceUnavailable
            case server, transport, decoding, configuration, other
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// 400: the request was malformed.
        public static let badRequest = Code(.badRequest)
        /// 401: no token, or an invalid one.
        public static let unauthorized = Code(.unauthorized)
        /// 403: the token may not do this.
        public static let forbidden = Code(.forbidden)
        /// 404: no such object (or not visible to this token).
        public static let notFound = Code(.notFound)
        /// 409: the object changed under the request (for example a lock race).
        public static let conflict = Code(.conflict)
        /// 422: the change is not allowed (for example an illegal state transition).
        public static let unprocessable = Code(.unprocessable)
        /// 503: the server is overloaded; back off.
        public static let serviceUnavailable = Code(.serviceUnavailable)
        /// Another 5xx.
        public static let server = Code(.server)
        /// The request did not complete (connection refused, timeout, …).
        public static let transport = Code(.transport)
        /// The response was not what the API promises.
        public static let decoding = Code(.decoding)
        /// The client's own settings are unusable (such as a CA to trust that holds no certificate).
        public static let configuration = Code(.configuration)
        /// Any other status.
        public static let other = Code(.other)

        /// The code for an HTTP status.
        public static func forStatus(_ status: Int) -> Code {
            switch status {
            case 400: .badRequest
            case 401: .unauthorized
            case 403: .forbidden
            case 404: .notFound
            case 409: .conflict
            case 422: .unprocessable
            case 503: .serviceUnavailable
            case 500...599: .server
            default: .other
            }
        }

        public var description: String { "\(self.wrapped)" }
    }

    public var code: Code
    /// The HTTP status, when the server answered.
    public var status: Int?
    /// What went wrong, from the server's `errors` list or the transport.
    public var message: String

    public init(code: Code, status: Int? = nil, message: String) {
        self.code = code
        self.status = status
        self.message = message
    }

    public var description: String {
        if let status = self.status { return "Arvados API error \(status): \(self.message)" }
        return "Arvados API error: \(self.message)"
    }
}
