public import CloudDriver
public import DispatchModel

/// How EC2's error codes become `CloudError`s (reference §6.2, `wrapError`).
///
/// | EC2 code | `CloudError` |
/// |---|---|
/// | a throttle code (``throttleCodes``: `RequestLimitExceeded`, `Throttling`, …) | `rateLimited`, retry after a delay that grows from 1 s by ×1.5 + 1 s up to 1 min while throttling lasts |
/// | ``quotaCodes`` (`InstanceLimitExceeded`, `InsufficientFreeAddressesInSubnet`, …) | `quotaExceeded` |
/// | `InsufficientInstanceCapacity`; `Unsupported` about "the requested instance type" | `insufficientCapacity` for the instance type |
/// | `VcpuLimitExceeded` | `insufficientCapacity` for the type's quota group |
/// | `InvalidInstanceID.NotFound` and other `*.NotFound` | `notFound` |
/// | anything else (unauthorized, invalid parameter, transport) | `other`, with ``EC2APIError/kind`` telling which |
public enum EC2ErrorMapping: Sendable {
    /// The codes the AWS SDKs treat as throttling.
    public static let throttleCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
        "PriorRequestNotComplete", "EC2ThrottledException",
    ]

    /// The codes that mean "no more instances until some are destroyed".
    public static let quotaCodes: Set<String> = [
        "InstanceLimitExceeded", "InsufficientAddressCapacity", "InsufficientFreeAddressesInSubnet",
        "InsufficientVolumeCapacity", "MaxSpotInstanceCountExceeded",
    ]

    /// The codes that mean the credentials are missing, wrong, expired or not permitted.
    public static let unauthorizedCodes: Set<String> = [
        "AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId", "SignatureDoesNotMatch",
        "IncompleteSignature", "MissingAuthenticationToken", "ExpiredToken", "RequestExpired", "OptInRequired",
        "Blocked", "AccessDenied", "AccessDeniedException",
    ]

    /// Whether `error` says EC2 has no capacity (for one type or one quota group).
    static func isCapacity(_ error: EC2APIError) -> Bool {
        switch error.awsCode {
        case "InsufficientInstanceCapacity", "VcpuLimitExceeded": true
        case "Unsupported": error.message.contains("requested instance type")
        default: false
        }
    }

    /// Whether another subnet might not fail the same way (reference §6.2, `isErrorSubnetSpecific`).
    public static func isSubnetSpecific(_ error: EC2APIError) -> Bool {
        let code = error.awsCode
        if code.contains("Subnet") { return true }
        if ["InsufficientInstanceCapacity", "InsufficientVolumeCapacity", "Unsupported"].contains(code) { return true }
        if code.hasPrefix("InvalidParameter") {
            let message = error.message.lowercased()
            return message.contains(" subnet ") || message.contains("sufficient free ipv4 addresses")
                || message.contains("sufficient free ipv6 addresses")
        }
        return false
    }

    /// The `CloudError` for `error`, raised by an operation on instances of `type` (when there is one).
    ///
    /// - Parameters:
    ///   - retryAfter: The delay to report for a throttling error.
    ///   - quotaGroup: The quota group of `type`, for `VcpuLimitExceeded`.
    public static func cloudError(
        _ error: EC2APIError,
        operation: String,
        type: InstanceType? = nil,
        quotaGroup: InstanceQuotaGroup? = nil,
        retryAfter: Duration
    ) -> CloudError {
        let message = "\(operation): \(error)"
        switch error.kind {
        case .throttled:
            return .rateLimited(retryAfter: retryAfter, message, cause: error)
        case .quotaExceeded:
            return .quotaExceeded(message, cause: error)
        case .insufficientCapacity:
            if error.awsCode == "VcpuLimitExceeded", let quotaGroup {
                return .insufficientCapacity(.quotaGroup(quotaGroup), message, cause: error)
            }
            if let type {
                return .insufficientCapacity(.instanceType(type), message, cause: error)
            }
            return .insufficientCapacity(.all, message, cause: error)
        case .notFound:
            return .notFound(message, cause: error)
        default:
            return .other(message, cause: error)
        }
    }
}

/// The back-off for one kind of call while EC2 throttles it: 1 s, then ×1.5 + 1 s each time, at most 1 min;
/// back to nothing after any answer that is not a throttle.
struct ThrottleBackoff: Sendable {
    static let minimum = Duration.seconds(1)
    static let maximum = Duration.seconds(60)

    private(set) var delay = Duration.zero

    /// Records a throttle answer and returns how long to wait.
    mutating func throttled() -> Duration {
        let grown = self.delay * 1.5 + .seconds(1)
        self.delay = min(max(grown, Self.minimum), Self.maximum)
        return self.delay
    }

    /// Records an answer that was not a throttle.
    mutating func reset() {
        self.delay = .zero
    }
}
