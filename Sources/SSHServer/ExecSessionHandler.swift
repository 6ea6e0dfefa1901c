import Foundation
import NIOCore
import NIOPosix
import NIOSSH
import ProcessSpawning

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the server runs commands.
struct ProcessSettings: Sendable {
    var shell: String
    var environment: [String: String]
    var workingDirectory: String?
    var commandFilter: (@Sendable (String) -> String)?
}

/// Serves one session channel: runs its exec request as a process and streams its I/O.
///
/// The exit status (or signal) is sent, and the channel closed, once the process has exited and both of its
/// output pipes have reached end of file.
final class ExecSessionHandler: ChannelInboundHandler {
    typealias InboundIn = SSHChannelData
    typealias OutboundOut = SSHChannelData

    private enum Stream {
        case stdout
        case stderr
    }

    private let settings: ProcessSettings
    private var context: ChannelHandlerContext?
    private var process: ChildProcess?
    private var stdinChannel: (any Channel)?
    /// The most recent write to the command's stdin; the pipe is closed only after it completes.
    private var lastStdinWrite: EventLoopFuture<Void>?
    private var outputChannels: [any Channel] = []
    private var pendingStdin: [ByteBuffer] = []
    private var clientSentEOF = false
    private var openOutputs = 0
    private var termination: ChildProcess.Termination?
    private var finished = false

    init(settings: ProcessSettings) {
        self.settings = settings
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Keep the channel open after the client's EOF: the output and exit status still have to go out.
        _ = context.channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = self.unwrapInboundIn(data)
        guard message.type == .channel, case .byteBuffer(let buffer) = message.data else { return }
        if let stdin = self.stdinChannel {
            self.lastStdinWrite = stdin.writeAndFlush(buffer)
        } else if self.process == nil {
            self.pendingStdin.append(buffer)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let request as SSHChannelRequestEvent.ExecRequest:
            self.startProcess(context: context, command: request.command, wantReply: request.wantReply)
        case let event as ChannelEvent where event == .inputClosed:
            self.clientSentEOF = true
            if let stdin = self.stdinChannel {
                Self.closeStdin(stdin, after: self.lastStdinWrite)
            }
            self.stdinChannel = nil
        case let request as SSHChannelRequestEvent.EnvironmentRequest:
            Self.refuse(context: context, wantReply: request.wantReply)
        case let request as SSHChannelRequestEvent.ShellRequest:
            Self.refuse(context: context, wantReply: request.wantReply)
        case let request as SSHChannelRequestEvent.PseudoTerminalRequest:
            Self.refuse(context: context, wantReply: request.wantReply)
        case let request as SSHChannelRequestEvent.SubsystemRequest:
            Self.refuse(context: context, wantReply: request.wantReply)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Backpressure: stop reading the process's output while the client's window is full.
        let writable = context.channel.isWritable
        for channel in self.outputChannels {
            channel.setOption(ChannelOptions.autoRead, value: writable).whenFailure { _ in }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.finished = true
        if let process = self.process, self.termination == nil {
            // The client went away while the command runs.
            process.killGroup(SIGTERM)
        }
        self.stdinChannel?.close(promise: nil)
        self.stdinChannel = nil
        for channel in self.outputChannels {
            channel.close(promise: nil)
        }
        context.fireChannelInactive()
    }

    private static func refuse(context: ChannelHandlerContext, wantReply: Bool) {
        if wantReply {
            context.triggerUserOutboundEvent(ChannelFailureEvent(), promise: nil)
        }
    }

    /// This process's environment, read once: building it from `environ` for every command cost more than the
    /// rest of a command's start-up here.
    private static let inheritedEnvironment = ProcessInfo.processInfo.environment

    private func startProcess(context: ChannelHandlerContext, command: String, wantReply: Bool) {
        guard self.process == nil, !self.finished else {
            Self.refuse(context: context, wantReply: wantReply)
            return
        }
        let environment = Self.inheritedEnvironment.merging(self.settings.environment) { $1 }
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(
                shell: self.settings.shell,
                command: self.settings.commandFilter?(command) ?? command,
                environment: environment,
                workingDirectory: self.settings.workingDirectory
            )
        } catch {
            Self.refuse(context: context, wantReply: wantReply)
            return
        }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        process.waitForExit { termination in
            eventLoop.execute {
                loopBound.value.processExited(termination)
            }
        }
        self.process = process
        if wantReply {
            context.triggerUserOutboundEvent(ChannelSuccessEvent(), promise: nil)
        }

        self.openOutputs = 2
        self.attachOutput(process.stdout, as: .stdout, eventLoop: eventLoop, loopBound: loopBound)
        self.attachOutput(process.stderr, as: .stderr, eventLoop: eventLoop, loopBound: loopBound)
        self.attachStdin(process.stdin, eventLoop: eventLoop, loopBound: loopBound)
    }

    private func attachOutput(
        _ fd: CInt,
        as stream: Stream,
        eventLoop: any EventLoop,
        loopBound: NIOLoopBound<ExecSessionHandler>
    ) {
        let sshChannel = self.context?.channel
        let type: SSHChannelData.DataType = stream == .stdout ? .channel : .stdErr
        NIOPipeBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        OutputForwarder(type: type, sshChannel: sshChannel) {
                            loopBound.value.outputClosed()
                        }
                    )
                }
            }
            .takingOwnershipOfDescriptor(input: fd)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    loopBound.value.outputChannels.append(channel)
                    if loopBound.value.finished { channel.close(promise: nil) }
                case .failure:
                    close(fd)
                    loopBound.value.outputClosed()
                }
            }
    }

    private func attachStdin(_ fd: CInt, eventLoop: any EventLoop, loopBound: NIOLoopBound<ExecSessionHandler>) {
        NIOPipeBootstrap(group: eventLoop)
            .takingOwnershipOfDescriptor(output: fd)
            .whenComplete { result in
                let handler = loopBound.value
                switch result {
                case .success(let channel):
                    // Swallow EPIPE and friends: a command may exit without reading its input.
                    channel.pipeline.addHandler(ErrorSwallower()).whenFailure { _ in }
                    for buffer in handler.pendingStdin {
                        handler.lastStdinWrite = channel.write(buffer)
                    }
                    handler.pendingStdin = []
                    channel.flush()
                    if handler.finished {
                        channel.close(promise: nil)
                    } else if handler.clientSentEOF {
                        Self.closeStdin(channel, after: handler.lastStdinWrite)
                    } else {
                        handler.stdinChannel = channel
                    }
                case .failure:
                    close(fd)
                }
            }
    }

    /// Closes a stdin pipe once `write` (the last one queued) has completed: closing drops queued writes.
    private static func closeStdin(_ channel: any Channel, after write: EventLoopFuture<Void>?) {
        guard let write else {
            channel.close(promise: nil)
            return
        }
        write.whenComplete { _ in channel.close(promise: nil) }
    }

    private func outputClosed() {
        self.openOutputs -= 1
        self.finishIfDone()
    }

    private func processExited(_ termination: ChildProcess.Termination) {
        self.termination = termination
        self.finishIfDone()
    }

    private func finishIfDone() {
        guard !self.finished, self.openOutputs <= 0, let termination = self.termination,
            let context = self.context
        else { return }
        self.finished = true
        switch termination {
        case .exited(let status):
            context.triggerUserOutboundEvent(SSHChannelRequestEvent.ExitStatus(exitStatus: Int(status)), promise: nil)
        case .signalled(let signal):
            context.triggerUserOutboundEvent(
                SSHChannelRequestEvent.ExitSignal(
                    signalName: SignalName.name(of: signal),
                    errorMessage: "",
                    language: "",
                    dumpedCore: false
                ),
                promise: nil
            )
        }
        context.close(promise: nil)
    }
}

/// Forwards a process's output pipe to the SSH session as channel data of one type.
private final class OutputForwarder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let type: SSHChannelData.DataType
    private let sshChannel: (any Channel)?
    private let onClose: () -> Void
    private var closed = false

    init(type: SSHChannelData.DataType, sshChannel: (any Channel)?, onClose: @escaping () -> Void) {
        self.type = type
        self.sshChannel = sshChannel
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        guard let ssh = self.sshChannel else { return }
        ssh.writeAndFlush(SSHChannelData(type: self.type, data: .byteBuffer(buffer)), promise: nil)
        if !ssh.isWritable {
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.closed {
            self.closed = true
            self.onClose()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Closes a pipe channel on any error instead of letting it reach the end of the pipeline.
private final class ErrorSwallower: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Signal names as SSH reports them: without the `SIG` prefix.
enum SignalName {
    static func name(of signal: Int32) -> String {
        switch signal {
        case SIGHUP: "HUP"
        case SIGINT: "INT"
        case SIGQUIT: "QUIT"
        case SIGILL: "ILL"
        case SIGABRT: "ABRT"
        case SIGFPE: "FPE"
        case SIGKILL: "KILL"
        case SIGSEGV: "SEGV"
        case SIGPIPE: "PIPE"
        case SIGALRM: "ALRM"
        case SIGTERM: "TERM"
        case SIGUSR1: "USR1"
        case SIGUSR2: "USR2"
        default: "SIG\(signal)"
        }
    }
}
