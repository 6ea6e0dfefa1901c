public import DispatchModel
import RemoteExecution

/// One VM instance as a driver reports it.
///
/// An instance value is a snapshot: ``tags`` and ``address`` are what the provider reported when the value
/// was made, and a later ``InstanceSet/instances(tagged:)`` may report newer ones. ``id`` is stable for the
/// life of the instance. Everything needed to reach the instance over SSH is a plain value here; the SSH
/// client itself lives elsewhere.
public protocol CloudInstance: Sendable {
    /// The provider's identifier, stable for the life of the instance.
    var id: InstanceID { get }
    /// The address to reach the instance at (`host` or `host:port`), or the empty string while unknown.
    var address: String { get }
    /// The user to log in as; commands are prefixed with `sudo` when it is not `root`.
    var remoteUser: String { get }
    /// The provider's instance type, such as `m5.large`.
    var providerType: String { get }
    /// The instance's tags when this value was made.
    var tags: InstanceTags { get }

    /// Replaces the instance's tags with `tags`.
    func setTags(_ tags: InstanceTags) async throws(CloudError)

    /// Asks the provider to destroy the instance; it may stay listed while shutting down.
    func destroy() async throws(CloudError)

    /// The recent prices of the instance, newest first, for `type`'s spot pricing; empty when unknown.
    func priceHistory(for type: InstanceType) -> [InstancePrice]

    /// Whether instances of this type may report a price history at all (``priceHistory(for:)``); a pool of
    /// instances that never do skips asking each of them at every probe. A driver that implements
    /// ``priceHistory(for:)`` says `true`.
    static var reportsPriceHistory: Bool { get }

    /// Where the init command writes the instance secret on the instance: `InstanceSecret.path`, except where
    /// several instances share one host (the loopback driver's).
    var instanceSecretPath: String { get }

    /// Checks an SSH host key that the instance presented, in OpenSSH form (`ssh-ed25519 AAAA…`).
    ///
    /// Returns ``HostKeyVerification/verified`` when the driver knows the key is the instance's, and
    /// ``HostKeyVerification/useInstanceSecret`` when it cannot tell, in which case the caller verifies
    /// the host by reading back the instance secret. Throws when the key is known to be wrong.
    func verifyHostKey(_ publicKeyOpenSSH: String) async throws(CloudError) -> HostKeyVerification
}

extension CloudInstance {
    /// No price history: the default for drivers without spot pricing.
    public func priceHistory(for type: InstanceType) -> [InstancePrice] { [] }

    /// No price history: the default for drivers without spot pricing.
    public static var reportsPriceHistory: Bool { false }

    /// `InstanceSecret.path`: the default for instances that each are a host of their own.
    public var instanceSecretPath: String { InstanceSecret.path }

    /// Defers to the instance secret: the default for drivers that cannot check host keys themselves.
    public func verifyHostKey(_ publicKeyOpenSSH: String) async throws(CloudError) -> HostKeyVerification {
        .useInstanceSecret
    }
}

/// The outcome of ``CloudInstance/verifyHostKey(_:)``.
public enum HostKeyVerification: Hashable, Sendable {
    /// The driver confirmed the key belongs to the instance.
    case verified
    /// The driver cannot tell; verify the host through the instance secret instead.
    case useInstanceSecret
}

/// The price of an instance from a given time on.
public struct InstancePrice: Hashable, Sendable, Codable {
    /// When the price took effect.
    public var startTime: Timestamp
    /// Price per hour.
    public var price: Double

    public init(startTime: Timestamp, price: Double) {
        self.startTime = startTime
        self.price = price
    }

    enum CodingKeys: String, CodingKey {
        case startTime = "StartTime"
        case price = "Price"
    }
}
