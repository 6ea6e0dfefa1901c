import NIOCore
import NIOPosix
import NIOSSH
import RemoteExecution
import Synchronization

/// One authenticated SSH connection; each command runs in its own session channel.
///
/// The host key is accepted during the handshake and recorded; the executor decides whether to trust it.
final class SSHConnection: Sendable {
    private let channel: any Channel
    /// The host key the server presented.
    let hostKey: NIOSSHPublicKey

    private init(channel: any Channel, hostKey: NIOSSHPublicKey) {
        self.channel = channel
        self.hostKey = hostKey
    }

    /// Whether the TCP connection is still open.
    var isActive: Bool { self.channel.isActive }

    /// Connects, runs the SSH handshake and authenticates with `privateKey`.
    static func connect(
        to address: DialAddress,
        username: String,
        privateKey: NIOSSHPrivateKey,
        connectTimeout: Duration,
        authTimeout: Duration,
        group: any EventLoopGroup
    ) async throws(RemoteExecutionError) -> SSHConnection {
        let eventLoop = group.any()
        let authDone = eventLoop.makePromise(of: Void.self)
        let hostKeyRecorder = HostKeyRecorder()
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(connectTimeout))
            .channelOption(ChannelOptions.socket(SocketOptionLevel(IPPROTO_TCP), TCP_NODELAY), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ssh = NIOSSHHandler(
                        role: .client(
                            .init(
                                userAuthDelegate: OfferKeyOnceDelegate(username: username, key: privateKey),
                                serverAuthDelegate: hostKeyRecorder
                            )
                        ),
                        allocator: channel.allocator,
                        inboundChildChannelInitializer: nil
                    )
                    try channel.pipeline.syncOperations.addHandler(ssh)
                    try channel.pipeline.syncOperations.addHandler(AuthWaiter(authDone))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: address.host, port: address.port).get()
        } catch {
            authDone.fail(error)
            if case ChannelError.connectTimeout = error {
                throw RemoteExecutionError(
                    code: .timedOut,
                    message: "connecting to \(address.host):\(address.port) timed out",
                    cause: error
                )
            }
            throw RemoteExecutionError(
                code: .connectFailed,
                message: "cannot connect to \(address.host):\(address.port)",
                cause: error
            )
        }
        let timeout = channel.eventLoop.scheduleTask(in: TimeAmount(authTimeout)) {
            authDone.fail(AuthTimedOut())
            channel.close(promise: nil)
        }
        do {
            try await authDone.futureResult.get()
            timeout.cancel()
        } catch {
            timeout.cancel()
            try? await channel.close()
            throw Self.authError(error, address: address)
        }
        guard let hostKey = hostKeyRecorder.key else {
            try? await channel.close()
            throw RemoteExecutionError(code: .connectFailed, message: "the server presented no host key")
        }
        return SSHConnection(channel: channel, hostKey: hostKey)
    }

    private static func authError(_ error: any Error, address: DialAddress) -> RemoteExecutionError {
        let endpoint = "\(address.host):\(address.port)"
        switch error {
        case is AuthTimedOut:
            return RemoteExecutionError(code: .timedOut, message: "the SSH handshake with \(endpoint) timed out")
        case let error as ClientKeyRefused:
            return RemoteExecutionError(
                code: .authFailed,
                message: "\(endpoint) refused the client key for user \(error.username)",
                cause: error
            )
        case is ClosedBeforeAuthentication:
            return RemoteExecutionError(
                code: .connectFailed,
                message: "\(endpoint) closed the connection before authentication completed"
            )
        default:
            return RemoteExecutionError(
                code: .connectFailed,
                message: "the SSH handshake with \(endpoint) failed",
                cause: error
            )
        }
    }

    /// Runs `command` in a new session channel, sends `stdin` then EOF, and collects the result.
    ///
    /// Throws ``SessionNotOpened`` when the session channel could not be opened (the command did not start),
    /// so the caller may retry on a new connection.
    func execute(_ command: String, stdin: [UInt8]) async throws -> CommandResult {
        let channel = self.channel
        let result = channel.eventLoop.makePromise(of: CommandResult.self)
        let child = channel.eventLoop.makePromise(of: (any Channel).self)
        channel.eventLoop.execute {
            // NIOSSHHandler is not Sendable: touch it only on its event loop.
            do {
                let ssh = try channel.pipeline.syncOperations.handler(type: NIOSSHHandler.self)
                ssh.createChannel(child, channelType: .session) { childChannel, _ in
                    childChannel.eventLoop.makeCompletedFuture {
                        try childChannel.pipeline.syncOperations.addHandler(
                            ExecHandler(command: command, stdin: stdin, promise: result)
                        )
                    }
                }
            } catch {
                child.fail(error)
            }
        }
        let session: any Channel
        do {
            session = try await child.futureResult.get()
        } catch {
            result.fail(error)
            throw SessionNotOpened(cause: error)
        }
        do {
            // Cancelling the caller closes the session, which the server sees as the client going away.
            return try await withTaskCancellationHandler {
                try await result.futureResult.get()
            } onCancel: {
                session.close(promise: nil)
            }
        } catch let error as RemoteExecutionError {
            throw error
        } catch {
            throw RemoteExecutionError(code: .channelFailed, message: "the SSH session failed", cause: error)
        }
    }

    /// Closes the connection; running commands fail.
    func close() async {
        try? await self.channel.close()
    }
}

/// The session channel for a command could not be opened.
struct SessionNotOpened: Error, Sendable {
    var cause: any Error & Sendable
}

private struct AuthTimedOut: Error, Sendable {}

private struct ClosedBeforeAuthentication: Error, Sendable {}

/// The server refused the only key the client has.
struct ClientKeyRefused: Error, Sendable {
    var username: String
}

/// Accepts every host key during the handshake and records it; trust is decided after authentication.
private final class HostKeyRecorder: NIOSSHClientServerAuthenticationDelegate, Sendable {
    private let recorded = Mutex<NIOSSHPublicKey?>(nil)

    var key: NIOSSHPublicKey? { self.recorded.withLock { $0 } }

    func validateHostKey(hostKey: NIOSSHPublicKey, validationCompletePromise: EventLoopPromise<Void>) {
        self.recorded.withLock { $0 = hostKey }
        validationCompletePromise.succeed(())
    }
}

/// Offers the private key once; NIOSSH asks again after a rejection and would loop otherwise.
private final class OfferKeyOnceDelegate: NIOSSHClientUserAuthenticationDelegate, Sendable {
    private let username: String
    private let key: NIOSSHPrivateKey
    private let offered = Mutex(false)

    init(username: String, key: NIOSSHPrivateKey) {
        self.username = username
        self.key = key
    }

    func nextAuthenticationType(
        availableMethods: NIOSSHAvailableUserAuthenticationMethods,
        nextChallengePromise: EventLoopPromise<NIOSSHUserAuthenticationOffer?>
    ) {
        let first = self.offered.withLock { offered in
            defer { offered = true }
            return !offered
        }
        guard first, availableMethods.contains(.publicKey) else {
            nextChallengePromise.fail(ClientKeyRefused(username: self.username))
            return
        }
        nextChallengePromise.succeed(
            NIOSSHUserAuthenticationOffer(
                username: self.username,
                serviceName: "",
                offer: .privateKey(.init(privateKey: self.key))
            )
        )
    }
}

/// Completes its promise when authentication succeeds, or fails it with the handshake's error.
///
/// `ClientBootstrap.connect` returns once TCP is up, before the handshake and authentication.
private final class AuthWaiter: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any

    private let promise: EventLoopPromise<Void>

    init(_ promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is UserAuthSuccessEvent {
            self.promise.succeed(())
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise.fail(ClosedBeforeAuthentication())
        context.fireChannelInactive()
    }
}

/// Runs one command in a session channel and collects its output and exit status.
private final class ExecHandler: ChannelInboundHandler {
    typealias InboundIn = SSHChannelData
    typealias OutboundOut = SSHChannelData

    private let command: String
    private let stdin: [UInt8]
    private var promise: EventLoopPromise<CommandResult>?
    private var result = CommandResult()

    init(command: String, stdin: [UInt8], promise: EventLoopPromise<CommandResult>) {
        self.command = command
        self.stdin = stdin
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Without this, the server's EOF closes the channel before the exit status arrives.
        let promise = self.promise
        context.channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true).whenFailure { error in
            promise?.fail(error)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.triggerUserOutboundEvent(
            SSHChannelRequestEvent.ExecRequest(command: self.command, wantReply: true),
            promise: nil
        )
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelSuccessEvent:
            // The exec request was accepted: send stdin, then EOF.
            if !self.stdin.isEmpty {
                let buffer = context.channel.allocator.buffer(bytes: self.stdin)
                context.write(
                    self.wrapOutboundOut(SSHChannelData(type: .channel, data: .byteBuffer(buffer))),
                    promise: nil
                )
            }
            context.flush()
            context.close(mode: .output, promise: nil)
        case is ChannelFailureEvent:
            self.finish(
                .failure(RemoteExecutionError(code: .channelFailed, message: "the server refused to run the command"))
            )
            context.close(promise: nil)
        case let status as SSHChannelRequestEvent.ExitStatus:
            self.result.exitStatus = status.exitStatus
        case let signal as SSHChannelRequestEvent.ExitSignal:
            self.result.exitSignal = signal.signalName
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = self.unwrapInboundIn(data)
        guard case .byteBuffer(let buffer) = message.data else { return }
        switch message.type {
        case .channel:
            self.result.stdout += buffer.readableBytesView
        case .stdErr:
            self.result.stderr += buffer.readableBytesView
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if self.result.exitStatus == nil && self.result.exitSignal == nil {
            self.finish(
                .failure(
                    RemoteExecutionError(
                        code: .channelFailed,
                        message: "the session closed without an exit status"
                    )
                )
            )
        } else {
            self.finish(.success(self.result))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.finish(.failure(error))
        context.close(promise: nil)
    }

    private func finish(_ outcome: Result<CommandResult, any Error>) {
        guard let promise = self.promise else { return }
        self.promise = nil
        promise.completeWith(outcome)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
