import RemoteExecution

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which addresses an executor may connect to.
///
/// Tests and loopback deployments use ``loopbackOnly``: any other address is refused before a socket is
/// opened, and `localhost` is dialled as `127.0.0.1` without a name lookup.
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

    /// Returns the host to dial for `host`, or throws
    /// ``RemoteExecution/RemoteExecutionError/Code-swift.struct/addressNotAllowed`` if the policy forbids it.
    func hostToDial(_ host: String) throws(RemoteExecutionError) -> String {
        guard self.loopbackOnly else { return host }
        if host == "localhost" { return "127.0.0.1" }
        if Self.isLoopbackLiteral(host) { return host }
        throw RemoteExecutionError(
            code: .addressNotAllowed,
            message: "refusing to connect to \(host): the dial policy allows loopback addresses only"
        )
    }

    /// Whether `host` is a numeric IPv4 address in 127.0.0.0/8 or the IPv6 address `::1`.
    static func isLoopbackLiteral(_ host: String) -> Bool {
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

/// A parsed `host:port` address.
struct DialAddress: Hashable, Sendable {
    var host: String
    var port: Int

    /// Parses `host:port`, `[ipv6]:port`, a bare IPv6 address, or a bare host (which gets `defaultPort`).
    init(_ address: String, defaultPort: Int) throws(RemoteExecutionError) {
        guard !address.isEmpty else {
            throw RemoteExecutionError(code: .noAddress, message: "the instance has no address yet")
        }
        let malformed = RemoteExecutionError(code: .invalidArgument, message: "malformed address \(address)")
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]") else { throw malformed }
            self.host = String(address[address.index(after: address.startIndex)..<close])
            let rest = address[address.index(after: close)...]
            if rest.isEmpty {
                self.port = defaultPort
            } else {
                guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else {
                    throw malformed
                }
                self.port = port
            }
            return
        }
        let colons = address.filter { $0 == ":" }.count
        if colons == 1, let colon = address.firstIndex(of: ":") {
            guard let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port) else {
                throw malformed
            }
            self.host = String(address[..<colon])
            self.port = port
        } else {
            self.host = address
            self.port = defaultPort
        }
        guard !self.host.isEmpty else { throw malformed }
    }
}
