/// A failed EC2 API call: the error code and message EC2 answered with, or a transport failure.
///
/// The driver turns these into `CloudError`s (``EC2ErrorMapping``) and keeps the original as the cause, so
/// logs show EC2's own code.
public struct EC2APIError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure, derived from ``awsCode``: what a caller may do about it.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case throttled
            case quotaExceeded
            case insufficientCapacity
            case unauthorized
            case invalidParameter
            case notFound
            case transport
            case other
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// EC2 is throttling this account's API calls (`RequestLimitExceeded` and the SDK's throttle codes).
        public static let throttled = Kind(.throttled)
        /// An account or subnet limit is reached (`InstanceLimitExceeded`, `InsufficientFreeAddressesInSubnet`, …).
        public static let quotaExceeded = Kind(.quotaExceeded)
        /// EC2 has no capacity for the request (`InsufficientInstanceCapacity`, `VcpuLimitExceeded`, …).
        public static let insufficientCapacity = Kind(.insufficientCapacity)
        /// The credentials are missing, wrong, expired, or lack a permission (`AuthFailure`, `UnauthorizedOperation`, …).
        public static let unauthorized = Kind(.unauthorized)
        /// The request is malformed or names something invalid (`InvalidParameterValue`, `InvalidAMIID.Malformed`, …).
        public static let invalidParameter = Kind(.invalidParameter)
        /// The resource does not exist (`InvalidInstanceID.NotFound`, …).
        public static let notFound = Kind(.notFound)
        /// No answer from EC2: the connection failed or timed out, or the answer was not an EC2 document.
        public static let transport = Kind(.transport)
        /// Any other error code.
        public static let other = Kind(.other)

        public var description: String { "\(self.wrapped)" }
    }

    /// EC2's error code, such as `InsufficientInstanceCapacity`; empty for transport failures.
    public var awsCode: String
    /// EC2's message, or what went wrong in transport.
    public var message: String
    /// The HTTP status of the answer, or `nil` when there was none.
    public var httpStatus: Int?
    /// EC2's request ID, for support cases.
    public var requestID: String?
    /// The underlying error of a transport failure.
    public var cause: (any Error & Sendable)?

    public init(
        awsCode: String,
        message: String,
        httpStatus: Int? = nil,
        requestID: String? = nil,
        cause: (any Error & Sendable)? = nil
    ) {
        self.awsCode = awsCode
        self.message = message
        self.httpStatus = httpStatus
        self.requestID = requestID
        self.cause = cause
    }

    /// A failure to get an answer from EC2.
    static func transport(_ message: String, httpStatus: Int? = nil, cause: (any Error & Sendable)? = nil) -> Self {
        EC2APIError(awsCode: "", message: message, httpStatus: httpStatus, cause: cause)
    }

    /// The kind of failure ``awsCode`` denotes.
    public var kind: Kind {
        let code = self.awsCode
        if code.isEmpty { return .transport }
        if EC2ErrorMapping.throttleCodes.contains(code) { return .throttled }
        if EC2ErrorMapping.quotaCodes.contains(code) { return .quotaExceeded }
        if EC2ErrorMapping.isCapacity(self) { return .insufficientCapacity }
        if EC2ErrorMapping.unauthorizedCodes.contains(code) { return .unauthorized }
        if code.hasSuffix(".NotFound") || code.hasSuffix("NotFound") { return .notFound }
        if code.hasPrefix("Invalid") || code.hasPrefix("Missing") || code == "Unsupported"
            || code == "UnknownParameter" || code == "ValidationError"
        {
            return .invalidParameter
        }
        return .other
    }

    public var description: String {
        var text = self.awsCode.isEmpty ? "EC2 request failed" : "EC2 \(self.awsCode)"
        text += ": \(self.message)"
        if let status = self.httpStatus { text += " (HTTP \(status))" }
        if let requestID = self.requestID { text += " (request \(requestID))" }
        if let cause = self.cause { text += " (cause: \(cause))" }
        return text
    }
}
