import DispatchConfig
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An address the daemon will listen on, and the configuration key that names it.
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    /// The configuration key, such as `Services.Controller.InternalURLs`.
    public var key: String
    public var host: String
    public var port: Int

    public init(key: String, host: String, port: Int) {
        self.key = key
        self.host = host
        self.port = port
    }

    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }

    /// Whether a socket can be bound to this address now; the reason when it cannot.
    ///
    /// The probe binds and closes at once, with `SO_REUSEADDR` as the servers use, so it leaves nothing behind.
    /// Port 0 (any free port) always succeeds.
    public func bindProblem() -> String? {
        guard self.port != 0 else { return nil }
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(self.host, String(self.port), &hints, &list)
        guard status == 0, let first = list else {
            return "cannot resolve \(self.host): \(String(cString: gai_strerror(status)))"
        }
        defer { freeaddrinfo(list) }
        var problem: String?
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            let fd = socket(current.pointee.ai_family, current.pointee.ai_socktype, current.pointee.ai_protocol)
            if fd >= 0 {
                var one: Int32 = 1
                _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
                if bind(fd, current.pointee.ai_addr, current.pointee.ai_addrlen) != 0 {
                    let code = errno
                    problem =
                        code == EADDRINUSE
                        ? "address already in use"
                        : code == EADDRNOTAVAIL ? "no such address on this host" : String(cString: strerror(code))
                }
                close(fd)
                if problem != nil { return problem }
            }
            entry = current.pointee.ai_next
        }
        return nil
    }
}

extension Dispatcher {
    /// Every address ``run()`` will listen on: the embedded container API's and the management API's.
    static func listenAddresses(_ config: ClusterConfig) throws(DispatcherError) -> [ListenAddress] {
        var addresses: [ListenAddress] = []
        if config.dispatchCloud.embeddedContainerAPI {
            let listen =
                config.services.controller.internalURLs.sorted().first?.effectiveListenURL
                ?? config.services.controller.externalURL
            if let url = URL(string: listen), let host = url.host {
                let key =
                    config.services.controller.internalURLs.isEmpty
                    ? "Services.Controller.ExternalURL" : "Services.Controller.InternalURLs"
                addresses.append(
                    ListenAddress(key: key, host: host, port: url.port ?? (url.scheme == "https" ? 443 : 80))
                )
            }
        }
        if let management = try Self.managementListenAddress(config) {
            addresses.append(
                ListenAddress(
                    key: "Services.DispatchCloud.InternalURLs",
                    host: management.host,
                    port: management.port
                )
            )
        }
        return addresses
    }

    /// Checks that every address the daemon listens on is free, before any part starts.
    ///
    /// - Throws: ``DispatcherError`` with code `addressInUse`, naming the address and its configuration key.
    public func checkListenAddresses() throws(DispatcherError) {
        for address in self.listenAddresses {
            if let problem = address.bindProblem() {
                throw DispatcherError(.addressInUse, "cannot listen on \(address) (\(address.key)): \(problem)")
            }
        }
    }
}
