public import NIOCore
public import NIOPosix
public import NIOSSH
public import RemoteExecution

/// Runs commands on one instance over SSH, sharing one connection among concurrent commands.
///
/// - The connection is dialled lazily by the first command. A command that finds the connection gone, or
///   cannot open a session on it because it died, dials once more and retries; a failed dial is reported to
///   that command and the next command dials again.
/// - At most ``Configuration-swift.struct/maxConcurrentCommands`` commands run at once on the connection
///   (OpenSSH allows 10 sessions per connection by default); the rest wait their turn.
/// - On every new connection the presented host key is trusted only if it equals the last verified key or
///   the target verifies it (``RemoteExecution/ExecutorTarget/verifyHostKey(_:over:)``); otherwise the
///   connection is closed before the caller's command runs.
/// - The dial policy is checked before any socket is opened.
public actor SSHExecutor<Target: ExecutorTarget>: RemoteExecutor {
    /// Timeouts and limits.
    public struct Configuration: Sendable {
        /// How long the TCP connection may take (Arvados's dial timeout: 1 minute).
        public var connectTimeout: Duration = .seconds(60)
        /// How long the SSH handshake and authentication may take once TCP is up.
        public var authTimeout: Duration = .seconds(60)
        /// The port used when the target's address has none.
        public var defaultPort: Int = 22
        /// The most commands that run at once on the connection; more wait for a free slot.
        public var maxConcurrentCommands: Int = 8

        public init() {}
    }

    private var target: Target
    private let privateKey: NIOSSHPrivateKey
    private let dialPolicy: DialPolicy
    private let configuration: Configuration
    private let group: any EventLoopGroup

    private var connection: SSHConnection?
    private var dialing: Task<SSHConnection, any Error>?
    private var verifiedHostKey: NIOSSHPublicKey?
    private var isClosed = false
    private var runningCommands = 0
    private var slotWaiters: [CheckedContinuation<Void, Never>] = []

    /// Creates an executor for `target`; nothing is dialled until the first command.
    public init(
        target: Target,
        privateKey: NIOSSHPrivateKey,
        dialPolicy: DialPolicy,
        configuration: Configuration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.target = target
        self.privateKey = privateKey
        self.dialPolicy = dialPolicy
        self.configuration = configuration
        self.group = eventLoopGroup
    }

    /// Replaces the target; the current connection is kept, and the next new connection uses the new target.
    public func setTarget(_ target: Target) {
        self.target = target
    }

    /// The host key that was last verified, in OpenSSH form, or `nil` before the first verified connection.
    public var verifiedHostKeyString: String? {
        self.verifiedHostKey.map { String(openSSHPublicKey: $0) }
    }

    public func execute(
        environment: [String: String],
        command: String,
        stdin: [UInt8]
    ) async throws -> CommandResult {
        let line = try ShellQuote.command(command, environment: environment)
        try self.checkOpen()
        await self.acquireSlot()
        defer { self.releaseSlot() }
        try self.checkOpen()
        try Task.checkCancellation()

        let first = try await self.currentConnection()
        do {
            return try await first.execute(line, stdin: stdin)
        } catch let error as SessionNotOpened {
            guard !first.isActive else {
                throw RemoteExecutionError(
                    code: .channelFailed,
                    message: "the server refused to open a session",
                    cause: error.cause
                )
            }
            // The connection died under us; the command never started, so it is safe to run it on a new one.
            self.discard(first)
        }
        let second = try await self.currentConnection()
        do {
            return try await second.execute(line, stdin: stdin)
        } catch let error as SessionNotOpened {
            if !second.isActive { self.discard(second) }
            throw RemoteExecutionError(
                code: .channelFailed,
                message: "the server refused to open a session",
                cause: error.cause
            )
        }
    }

    public func close() async {
        self.isClosed = true
        let waiters = self.slotWaiters
        self.slotWaiters = []
        for waiter in waiters { waiter.resume() }
        if let connection = self.connection {
            self.connection = nil
            await connection.close()
        }
    }

    private func checkOpen() throws(RemoteExecutionError) {
        if self.isClosed {
            throw RemoteExecutionError(code: .closed, message: "the executor is closed")
        }
    }

    private func acquireSlot() async {
        if self.runningCommands < max(1, self.configuration.maxConcurrentCommands) {
            self.runningCommands += 1
            return
        }
        // The releasing command hands its slot over directly, so runningCommands stays the same.
        await withCheckedContinuation { self.slotWaiters.append($0) }
    }

    private func releaseSlot() {
        if self.slotWaiters.isEmpty {
            self.runningCommands -= 1
        } else {
            self.slotWaiters.removeFirst().resume()
        }
    }

    private func discard(_ connection: SSHConnection) {
        if self.connection === connection {
            self.connection = nil
        }
    }

    /// Returns the live connection, dialling (once, shared by concurrent callers) when there is none.
    private func currentConnection() async throws -> SSHConnection {
        if let connection = self.connection {
            if connection.isActive { return connection }
            self.connection = nil
        }
        let dialing: Task<SSHConnection, any Error>
        if let existing = self.dialing {
            dialing = existing
        } else {
            dialing = Task { try await self.dial() }
            self.dialing = dialing
        }
        let connection: SSHConnection
        do {
            connection = try await dialing.value
        } catch {
            if self.dialing == dialing { self.dialing = nil }
            throw error
        }
        if self.dialing == dialing { self.dialing = nil }
        if self.isClosed {
            await connection.close()
            throw RemoteExecutionError(code: .closed, message: "the executor is closed")
        }
        self.connection = connection
        return connection
    }

    private func dial() async throws -> SSHConnection {
        let target = self.target
        let address = try DialAddress(target.address, defaultPort: self.configuration.defaultPort)
        let host = try self.dialPolicy.hostToDial(address.host)
        let connection = try await SSHConnection.connect(
            to: DialAddress(host: host, port: address.port),
            username: target.remoteUser,
            privateKey: self.privateKey,
            connectTimeout: self.configuration.connectTimeout,
            authTimeout: self.configuration.authTimeout,
            group: self.group
        )
        if connection.hostKey == self.verifiedHostKey {
            return connection
        }
        let hostKey = HostKey(openSSHString: String(openSSHPublicKey: connection.hostKey))
        do {
            try await target.verifyHostKey(hostKey, over: UnverifiedConnection(connection: connection))
        } catch {
            await connection.close()
            if let error = error as? RemoteExecutionError, error.code == .hostKeyRejected {
                throw error
            }
            throw RemoteExecutionError(
                code: .hostKeyRejected,
                message: "the target did not verify the host key \(hostKey.algorithm)",
                cause: error
            )
        }
        self.verifiedHostKey = connection.hostKey
        return connection
    }
}

extension DialAddress {
    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// Runs commands over a connection whose host key is not yet trusted: only for host verification.
private struct UnverifiedConnection: RemoteExecutor {
    let connection: SSHConnection

    func execute(environment: [String: String], command: String, stdin: [UInt8]) async throws -> CommandResult {
        let line = try ShellQuote.command(command, environment: environment)
        do {
            return try await self.connection.execute(line, stdin: stdin)
        } catch let error as SessionNotOpened {
            throw RemoteExecutionError(
                code: .channelFailed,
                message: "the server refused to open a session",
                cause: error.cause
            )
        }
    }
}
