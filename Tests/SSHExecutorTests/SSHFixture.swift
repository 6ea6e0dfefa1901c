import Crypto
import DispatchTestSupport
import Foundation
import NIOCore
import NIOSSH
import RemoteExecution
import SSHExecutor
import SSHServer
import Synchronization

/// A target whose host check is a closure, counting how often the executor asks.
struct TestTarget: ExecutorTarget {
    var address: String
    var remoteUser: String = "root"
    var check: @Sendable (HostKey, any RemoteExecutor) async throws -> Void
    let verifications = Counter()

    func verifyHostKey(_ hostKey: HostKey, over connection: some RemoteExecutor) async throws {
        self.verifications.increment()
        try await self.check(hostKey, connection)
    }

    /// Trusts exactly `key`.
    static func pinned(to key: NIOSSHPublicKey, address: String) -> TestTarget {
        let expected = HostKey(openSSHString: String(openSSHPublicKey: key))
        return TestTarget(address: address) { presented, _ in
            guard presented == expected else {
                throw RemoteExecutionError(code: .hostKeyRejected, message: "unexpected host key")
            }
        }
    }

    /// Trusts the host if it holds `secret` in `path`.
    static func secret(_ secret: InstanceSecret, path: String, address: String) -> TestTarget {
        let verifier = InstanceSecretVerifier(expected: secret, remoteUser: "root", secretPath: path)
        return TestTarget(address: address) { _, connection in
            try await verifier.verify(over: connection)
        }
    }
}

/// A thread-safe counter.
final class Counter: Sendable {
    private let value = Mutex(0)

    func increment() {
        self.value.withLock { $0 += 1 }
    }

    var count: Int { self.value.withLock { $0 } }
}

/// An in-process SSH server with fresh host and client keys, and a scratch directory.
struct SSHFixture {
    let hostKey = NIOSSHPrivateKey(ed25519Key: Curve25519.Signing.PrivateKey())
    let clientKey = NIOSSHPrivateKey(p256Key: P256.Signing.PrivateKey())
    let directory: TemporaryDirectory
    var server: SSHServer

    init() async throws {
        self.directory = try TemporaryDirectory(prefix: "ssh-executor-test")
        self.server = try await SSHServer.start(
            configuration: Self.configuration(self.hostKey, self.clientKey, port: 0)
        )
    }

    static func configuration(
        _ hostKey: NIOSSHPrivateKey,
        _ clientKey: NIOSSHPrivateKey,
        port: Int
    )
        -> SSHServer.Configuration
    {
        var configuration = SSHServer.Configuration(hostKey: hostKey, authorizedKeys: [clientKey.publicKey])
        configuration.port = port
        return configuration
    }

    var address: String { "127.0.0.1:\(self.server.port)" }

    /// A target that trusts this server's host key.
    var pinnedTarget: TestTarget { .pinned(to: self.hostKey.publicKey, address: self.address) }

    func executor(
        _ target: TestTarget,
        key: NIOSSHPrivateKey? = nil,
        configure: (inout SSHExecutor<TestTarget>.Configuration) -> Void = { _ in }
    ) -> SSHExecutor<TestTarget> {
        var configuration = SSHExecutor<TestTarget>.Configuration()
        configuration.connectTimeout = .seconds(10)
        configuration.authTimeout = .seconds(10)
        configure(&configuration)
        return SSHExecutor(
            target: target,
            privateKey: key ?? self.clientKey,
            dialPolicy: .loopbackOnly,
            configuration: configuration
        )
    }

    /// Stops the server and starts a new one on the same port with the same keys.
    ///
    /// Binding is retried (bounded) while the port is busy: a helper process that another test is starting
    /// through Foundation holds inherited sockets for the moment before its prologue closes them.
    mutating func restartServer() async throws {
        let port = self.server.port
        await self.server.stop()
        self.server = try await Self.startServer(Self.configuration(self.hostKey, self.clientKey, port: port))
    }

    /// Starts a server on a fixed port, retrying (bounded) while the port is busy.
    static func startServer(_ configuration: SSHServer.Configuration) async throws -> SSHServer {
        for _ in 0..<200 {
            do {
                return try await SSHServer.start(configuration: configuration)
            } catch let error as IOError where error.errnoCode == EADDRINUSE {
                try await Task.sleep(for: .milliseconds(25))
            }
        }
        return try await SSHServer.start(configuration: configuration)
    }

    func tearDown() async {
        await self.server.stop()
        self.directory.remove()
    }
}
