import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Free ports and readiness checks on 127.0.0.1.
public enum LoopbackPort: Sendable {
    /// A port that is free on 127.0.0.1 right now, never handed out before in this process.
    ///
    /// Ports come from below the kernel's ephemeral range (32768 and up here): a port the kernel picked for
    /// `bind(0)` and released could be taken as the local port of any outgoing connection before the caller
    /// binds it, which with hundreds of connections in a test run sometimes happened. Below that range only
    /// an explicit bind can take a port, and this process hands each one out once.
    public static func free() throws -> Int {
        for _ in 0..<Self.range.count {
            let port = Self.next.withLock { state -> Int in
                defer { state = (state + 1) % Self.range.count }
                return Self.range.lowerBound + state
            }
            guard Self.handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if Self.bindable(port) { return port }
        }
        throw TestSupportError("no free port on 127.0.0.1 in \(Self.range)")
    }

    /// Where ``free()`` looks: below Linux's default ephemeral range (32768–60999).
    static let range = 20_000..<32_000
    /// The next candidate, as an offset into ``range``, starting where this process's ID puts it.
    private static let next = Mutex(Int(getpid()) * 7919 % 12_000)
    private static let handedOut = Mutex<Set<Int>>([])

    /// Whether a socket could bind 127.0.0.1:`port` now (no listener, no connection in TIME_WAIT on it).
    private static func bindable(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = Self.loopbackAddress(port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return bound == 0
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = Self.loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return connected == 0
    }

    /// Polls until 127.0.0.1:`port` accepts connections, at most `attempts` times `interval` apart.
    public static func waitUntilAccepting(
        _ port: Int,
        attempts: Int = 200,
        interval: Duration = .milliseconds(25)
    ) async throws {
        for _ in 0..<attempts {
            if Self.accepts(port) { return }
            try await Task.sleep(for: interval)
        }
        throw TestSupportError("nothing accepted connections on 127.0.0.1:\(port) after \(attempts) attempts")
    }

    private static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}

/// A TCP socket on 127.0.0.1 that listens but never accepts or speaks: connections complete in the kernel's
/// backlog and then hang, which is how a stuck server looks to a client.
public final class SilentListener: Sendable {
    private let descriptor: Int32
    /// The port it listens on.
    public let port: Int

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            systemClose(fd)
            throw TestSupportError("bind/listen failed: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.descriptor = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Stops listening.
    public func close() {
        systemClose(self.descriptor)
    }
}

private func systemClose(_ descriptor: Int32) {
    _ = close(descriptor)
}
