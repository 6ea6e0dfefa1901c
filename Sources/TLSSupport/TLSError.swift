/// Why TLS material cannot be used: a value that is neither a `file://` path nor PEM, a file that cannot be read,
/// a certificate and key that do not belong together.
public struct TLSError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case invalidValue
            case unreadable
            case invalidMaterial
            case generation
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The configuration value is neither a `file://` URL nor inline PEM.
        public static let invalidValue = Code(.invalidValue)
        /// The file the value names cannot be read.
        public static let unreadable = Code(.unreadable)
        /// The PEM does not hold a usable certificate or key, or the key is not the certificate's.
        public static let invalidMaterial = Code(.invalidMaterial)
        /// A certificate or key could not be made or written.
        public static let generation = Code(.generation)

        public var description: String { "\(self.wrapped)" }
    }

    public var code: Code
    /// One line for people; names the configuration key or file, never key material.
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { self.message }
}
