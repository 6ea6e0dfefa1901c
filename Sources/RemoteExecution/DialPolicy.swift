#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which addresses an executor may connect to: the one network-safety rule of the dispatcher.
///
/// Only a driver whose instances are real remote machines (EC2 at a real endpoint) gives its executors
/// ``unrestricted``. Every other driver, and EC2 at an endpoint on this host (a fake cloud such as moto, whose
/// instance addresses are made up and must never be dialled), gets ``loopbackOnly``: any other address is
/// refused before a socket is opened, and `localhost` is dialled as `127.0.0.1` without a name lookup. The
/// driver states its policy in its `Driver.Product`; ``forInstances(ofCloudAt:)`` is the rule for a cloud
/// reached at an endpoint.
public struct DialPolicy: Hashable, Sendable {
    /// Whether only 127.0.0.0/8, `::1` and `localhost` may be dialled.
    public var loopbackOnly: Bool

    public init(loopbackOnly: Bool) {
        self.loopbackOnly = loopbackOnly
    }

    /// Any address may be dialled (production: instances are remote).
    public static let unrestricted = DialPolicy(loopbackOnly: false)
    /// Only loopback addresses may be dialled.
    public static let loopbackOnly = DialPolicy(loopbackOnly: true)

    /// The policy for the instances of a cloud whose API is at `endpointHost` (a host name or address, with or
    /// without IPv6 brackets): ``loopbackOnly`` when the endpoint is on this host (``isOnThisHost(_:)``, a fake
    /// or test cloud) or merely looks like it (a name that starts with `127.`, such as `127.0.0.1.nip.io`), else
    /// ``unrestricted``. It leans to refusing: instances of a cloud wrongly taken for a local one are only
    /// never dialled.
    public static func forInstances(ofCloudAt endpointHost: String) -> DialPolicy {
        let bare = Self.unbracketed(endpointHost)
        return Self.isOnThisHost(bare) || bare.hasPrefix("127.") ? .loopbackOnly : .unrestricted
    }

    /// Whether `host` is this host: `localhost` in any case, or a loopback literal (127.0.0.0/8, any spelling of
    /// `::1`), with or without IPv6 brackets.
    public static func isOnThisHost(_ host: String) -> Bool {
        let bare = Self.unbracketed(host)
        return bare.lowercased() == "localhost" || Self.isLoopbackLiteral(bare)
    }

    private static func unbracketed(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    /// Returns the host to dial for `host`, or throws
    /// ``RemoteExecutionError/Code-swift.struct/addressNotAllowed`` if the policy forbids it.
    package func hostToDial(_ host: String) throws(RemoteExecutionError) -> String {
        guard self.loopbackOnly else { return host }
        if host == "localhost" { return "127.0.0.1" }
        if Self.isLoopbackLiteral(host) { return host }
        throw RemoteExecutionError(
            code: .addressNotAllowed,
            message: "refusing to connect to \(host): the dial policy allows loopback addresses only"
        )
    }

    /// Whether `host` is a numeric IPv4 address in 127.0.0.0/8 or the IPv6 address `::1`.
    public static func isLoopbackLiteral(_ host: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { bytes in
                bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1
            }
        }
        return false
    }
}
