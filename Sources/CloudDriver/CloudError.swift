public import DispatchModel

/// An error from a cloud driver, classified so the worker pool can react to it (reference §3.6).
///
/// Every driver maps its provider's failures to one of the ``Code`` values; the pool holds creates on
/// ``Code-swift.struct/quotaExceeded``, holds one type, quota group or everything on
/// ``Code-swift.struct/insufficientCapacity`` according to ``capacityScope``, and pauses cloud calls on
/// ``Code-swift.struct/rateLimited`` for ``retryAfter``.
public struct CloudError: Error, Sendable, CustomStringConvertible {
    /// A broad classification of the failure that callers switch over.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case quotaExceeded
            case insufficientCapacity
            case rateLimited
            case notFound
            case other
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The account cannot run more instances until some are destroyed.
        public static let quotaExceeded = Code(.quotaExceeded)
        /// The provider has no capacity for now; ``CloudError/capacityScope`` says for what.
        public static let insufficientCapacity = Code(.insufficientCapacity)
        /// The provider is rejecting API calls for a while; see ``CloudError/retryAfter``.
        public static let rateLimited = Code(.rateLimited)
        /// The instance (or other resource) does not exist, or no longer does.
        public static let notFound = Code(.notFound)
        /// Any other failure.
        public static let other = Code(.other)

        public var description: String { "\(self.wrapped)" }
    }

    /// What an ``Code-swift.struct/insufficientCapacity`` error applies to.
    public enum CapacityScope: Hashable, Sendable, CustomStringConvertible {
        /// Only the given provider type, in its preemptible or its on-demand form.
        case instanceType(providerType: String, preemptible: Bool)
        /// Every type in the given quota group (instance family).
        case quotaGroup(InstanceQuotaGroup)
        /// Every instance type.
        case all

        /// The scope that an error about `type` alone has.
        public static func instanceType(_ type: InstanceType) -> CapacityScope {
            .instanceType(providerType: type.providerType, preemptible: type.preemptible)
        }

        /// Whether the scope covers `type`, whose quota group is `group`.
        public func covers(_ type: InstanceType, quotaGroup group: InstanceQuotaGroup) -> Bool {
            switch self {
            case .instanceType(let providerType, let preemptible):
                providerType == type.providerType && preemptible == type.preemptible
            case .quotaGroup(let scoped):
                scoped == group
            case .all:
                true
            }
        }

        /// The key Arvados keeps capacity holds under: `<ProviderType>[-preemptible]`, the quota group, or
        /// the empty string for every type.
        public var holdKey: String {
            switch self {
            case .instanceType(let providerType, let preemptible):
                preemptible ? providerType + "-preemptible" : providerType
            case .quotaGroup(let group):
                group.rawValue
            case .all:
                ""
            }
        }

        public var description: String {
            switch self {
            case .instanceType(let providerType, let preemptible):
                preemptible ? "instance type \(providerType) (preemptible)" : "instance type \(providerType)"
            case .quotaGroup(let group):
                "quota group \(group)"
            case .all:
                "all instance types"
            }
        }
    }

    /// The classification of the failure.
    public var code: Code
    /// What happened, for people.
    public var message: String
    /// For ``Code-swift.struct/insufficientCapacity``: what has no capacity; `nil` for other codes.
    public var capacityScope: CapacityScope?
    /// For ``Code-swift.struct/rateLimited``: how long to wait, from when the error was thrown, before
    /// calling the provider again; `nil` for other codes.
    ///
    /// A delay rather than an instant, because drivers and the pool are each generic over their own
    /// `Clock`: the receiver turns it into an instant of its clock (`clock.now.advanced(by: retryAfter)`).
    /// HTTP's `Retry-After` and the providers' throttling answers are delays too.
    public var retryAfter: Duration?
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    public init(
        code: Code,
        message: String,
        capacityScope: CapacityScope? = nil,
        retryAfter: Duration? = nil,
        cause: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.capacityScope = capacityScope
        self.retryAfter = retryAfter
        self.cause = cause
    }

    /// The account is at its instance quota.
    public static func quotaExceeded(_ message: String, cause: (any Error & Sendable)? = nil) -> CloudError {
        CloudError(code: .quotaExceeded, message: message, cause: cause)
    }

    /// The provider has no capacity for `scope`.
    public static func insufficientCapacity(
        _ scope: CapacityScope,
        _ message: String,
        cause: (any Error & Sendable)? = nil
    ) -> CloudError {
        CloudError(code: .insufficientCapacity, message: message, capacityScope: scope, cause: cause)
    }

    /// The provider rejects calls until `retryAfter` has passed.
    public static func rateLimited(
        retryAfter: Duration,
        _ message: String,
        cause: (any Error & Sendable)? = nil
    ) -> CloudError {
        CloudError(code: .rateLimited, message: message, retryAfter: retryAfter, cause: cause)
    }

    /// The resource does not exist.
    public static func notFound(_ message: String, cause: (any Error & Sendable)? = nil) -> CloudError {
        CloudError(code: .notFound, message: message, cause: cause)
    }

    /// Any other failure.
    public static func other(_ message: String, cause: (any Error & Sendable)? = nil) -> CloudError {
        CloudError(code: .other, message: message, cause: cause)
    }

    public var description: String {
        var text = "CloudError.\(self.code): \(self.message)"
        if let scope = self.capacityScope { text += " (\(scope))" }
        if let delay = self.retryAfter { text += " (retry after \(delay))" }
        if let cause = self.cause { text += " (cause: \(cause))" }
        return text
    }
}
