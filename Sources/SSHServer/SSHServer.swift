public import NIOCore
public import NIOPosix
public import NIOSSH
import Synchronization

/// An in-process SSH server that runs each `exec` request as a local process.
///
/// It stands in for a VM's sshd: the loopback driver runs one per instance on 127.0.0.1, and tests use it as
/// a fake worker. Clients authenticate with one of the authorized public keys (any user name is accepted;
/// commands run as the current OS user). Each exec request runs `<shell> -c <command>` with the configured
/// extra environment and working directory; standard input, output and error are streamed, and the exit
/// status or the killing signal is reported. Environment, shell, pty and subsystem requests are refused,
/// like OpenSSH's defaults.
public final class SSHServer: Sendable {
    /// What the server listens on, which keys it accepts, and how it runs commands.
    public struct Configuration: Sendable {
        /// The address to listen on.
        public var host: String = "127.0.0.1"
        /// The port to listen on; 0 picks a free port (see ``SSHServer/port``).
        public var port: Int = 0
        /// The key the server proves its identity with.
        public var hostKey: NIOSSHPrivateKey
        /// The client keys allowed to log in.
        public var authorizedKeys: [NIOSSHPublicKey]
        /// Variables added to (or replacing) this process's environment for every command.
        public var environment: [String: String] = [:]
        /// The working directory of every command; `nil` keeps this process's.
        public var workingDirectory: String?
        /// The shell that interprets commands.
        public var shell: String = "/bin/sh"
        /// Rewrites each requested command before the shell sees it (the loopback driver strips a leading
        /// `sudo `); `nil` runs commands as requested.
        public var commandFilter: (@Sendable (String) -> String)?

        public init(hostKey: NIOSSHPrivateKey, authorizedKeys: [NIOSSHPublicKey]) {
            self.hostKey = hostKey
            self.authorizedKeys = authorizedKeys
        }
    }

    private let listener: any Channel
    private let connections: ConnectionSet

    /// The port the server is listening on.
    public let port: Int

    private init(listener: any Channel, port: Int, connections: ConnectionSet) {
        self.listener = listener
        self.port = port
        self.connections = connections
    }

    /// How many TCP connections the server has accepted since it started.
    public var acceptedConnectionCount: Int {
        self.connections.accepted.withLock { $0 }
    }

    /// Starts listening; returns once the port is bound.
    public static func start(
        configuration: Configuration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> SSHServer {
        let tracked = ConnectionSet()
        let authorizer = AuthorizedKeysDelegate(configuration.authorizedKeys)
        let settings = ProcessSettings(
            shell: configuration.shell,
            environment: configuration.environment,
            workingDirectory: configuration.workingDirectory,
            commandFilter: configuration.commandFilter
        )
        let hostKey = configuration.hostKey
        let listener = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(ChannelOptions.socket(SocketOptionLevel(SOL_SOCKET), SO_REUSEADDR), value: 1)
            .childChannelInitializer { channel in
                tracked.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    let ssh = NIOSSHHandler(
                        role: .server(.init(hostKeys: [hostKey], userAuthDelegate: authorizer)),
                        allocator: channel.allocator,
                        inboundChildChannelInitializer: { child, type in
                            guard case .session = type else {
                                return child.eventLoop.makeFailedFuture(UnsupportedChannelType())
                            }
                            return child.eventLoop.makeCompletedFuture {
                                try child.pipeline.syncOperations.addHandler(ExecSessionHandler(settings: settings))
                            }
                        }
                    )
                    try channel.pipeline.syncOperations.addHandler(ssh)
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        guard let port = listener.localAddress?.port else {
            try? await listener.close()
            throw SSHServerError(message: "the listening socket has no port")
        }
        return SSHServer(listener: listener, port: port, connections: tracked)
    }

    /// Stops accepting connections and closes the open ones; commands still running are sent SIGTERM.
    public func stop() async {
        try? await self.listener.close()
        let open = self.connections.storage.withLock { Array($0.values) }
        for connection in open {
            try? await connection.close()
        }
    }
}

/// The server could not start.
public struct SSHServerError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var message: String

    public var description: String { self.message }
}

private struct UnsupportedChannelType: Error {}

/// The server's open connections, so ``SSHServer/stop()`` can close them.
private final class ConnectionSet: Sendable {
    let storage = Mutex<[ObjectIdentifier: any Channel]>([:])
    let accepted = Mutex(0)

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        self.accepted.withLock { $0 += 1 }
        self.storage.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in
            _ = self.storage.withLock { $0.removeValue(forKey: id) }
        }
    }
}

/// Accepts a client whose public key is in the authorized list (NIOSSH has already checked the signature).
private final class AuthorizedKeysDelegate: NIOSSHServerUserAuthenticationDelegate, Sendable {
    private let keys: [NIOSSHPublicKey]

    init(_ keys: [NIOSSHPublicKey]) {
        self.keys = keys
    }

    var supportedAuthenticationMethods: NIOSSHAvailableUserAuthenticationMethods { .publicKey }

    func requestReceived(
        request: NIOSSHUserAuthenticationRequest,
        responsePromise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>
    ) {
        guard case .publicKey(let offer) = request.request, self.keys.contains(offer.publicKey) else {
            responsePromise.succeed(.failure)
            return
        }
        responsePromise.succeed(.success)
    }
}
