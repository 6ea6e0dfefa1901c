import RemoteExecution

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
