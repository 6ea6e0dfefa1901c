import HTTPTypes
import Hummingbird
public import Logging
import NIOCore
public import ServiceLifecycle
import Synchronization

/// EC2's instance metadata service (IMDSv2) on 127.0.0.1, as far as spot interruption notices go:
/// `PUT /latest/api/token` (with `X-aws-ec2-metadata-token-ttl-seconds`) hands out a token, and
/// `GET /latest/meta-data/spot/instance-action` with it answers 404, or the notice once ``schedule(action:time:)``
/// is called. A wrong or missing token gets 401. Run it as a `Service`; ``listeningPort()`` reports its port.
public final class FakeInstanceMetadata: Service, Sendable {
    /// What the service has answered so far.
    public struct Counts: Sendable, Equatable {
        public var tokens = 0
        public var checks = 0
        public var unauthorized = 0
    }

    private struct Waiter {
        var condition: @Sendable (Counts) -> Bool
        var continuation: CheckedContinuation<Counts, Never>
    }

    private struct State {
        var token = "fake-imds-token-1"
        var notice: String?
        var counts = Counts() {
            didSet { self.resumeWaiters() }
        }
        var waiters: [Int: Waiter] = [:]
        var lastWaiter = 0

        /// Resumes, with the counts, every waiter whose condition they now meet.
        mutating func resumeWaiters() {
            for (id, waiter) in self.waiters where waiter.condition(self.counts) {
                self.waiters[id] = nil
                waiter.continuation.resume(returning: self.counts)
            }
        }
    }

    private let state = Mutex(State())
    private let port = Mutex<(value: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))
    private let logger: Logger

    public init(logger: Logger = Logger(label: "fake-instance-metadata")) { self.logger = logger }

    /// From now on, `spot/instance-action` reports `action` (`terminate`, `stop`, `hibernate`) at `time` (RFC 3339).
    public func schedule(action: String, time: String) {
        self.state.withLock { $0.notice = #"{"action": "\#(action)", "time": "\#(time)"}"# }
    }

    /// Invalidates the token handed out (the next check with it gets 401).
    public func rotateToken() {
        self.state.withLock { $0.token = "fake-imds-token-\($0.counts.tokens + 2)" }
    }

    public var counts: Counts { self.state.withLock { $0.counts } }

    /// Waits until the counts meet `condition` (checked now and after every answer) and returns them: however
    /// long the runner under test takes on a loaded machine, with no window of wall-clock time to miss. The
    /// caller's task being cancelled (a test's time limit) ends the wait with the counts as they are.
    public func counts(where condition: @escaping @Sendable (Counts) -> Bool) async -> Counts {
        let id = self.state.withLock { state in
            state.lastWaiter += 1
            return state.lastWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                self.state.withLock { state in
                    guard !Task.isCancelled, !condition(state.counts) else {
                        continuation.resume(returning: state.counts)
                        return
                    }
                    state.waiters[id] = Waiter(condition: condition, continuation: continuation)
                }
            }
        } onCancel: {
            self.state.withLock { state in
                state.waiters.removeValue(forKey: id)?.continuation.resume(returning: state.counts)
            }
        }
    }

    /// The port the service listens on, once it does.
    public func listeningPort() async -> Int {
        await withCheckedContinuation { continuation in
            let port = self.port.withLock { state -> Int? in
                if let value = state.value { return value }
                state.waiters.append(continuation)
                return nil
            }
            if let port { continuation.resume(returning: port) }
        }
    }

    public func run() async throws {
        let responder = CallbackResponder<BasicRequestContext> { request, _ in self.respond(to: request) }
        let application = Application(
            responder: responder,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let waiters = self.port.withLock { state in
                    state.value = port
                    defer { state.waiters = [] }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume(returning: port) }
            },
            logger: self.logger
        )
        try await application.run()
    }

    private func respond(to request: Request) -> Response {
        let ttl = HTTPField.Name("X-aws-ec2-metadata-token-ttl-seconds")!
        let tokenHeader = HTTPField.Name("X-aws-ec2-metadata-token")!
        return self.state.withLock { state -> Response in
            switch (request.method, request.uri.path) {
            case (.put, "/latest/api/token"):
                guard request.headers[ttl].flatMap({ Int($0) }).map({ (1...21600).contains($0) }) == true else {
                    return Response(status: .badRequest)
                }
                state.counts.tokens += 1
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: state.token)))
            case (.get, "/latest/meta-data/spot/instance-action"):
                guard request.headers[tokenHeader] == state.token else {
                    state.counts.unauthorized += 1
                    return Response(status: .unauthorized)
                }
                state.counts.checks += 1
                guard let notice = state.notice else { return Response(status: .notFound) }
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: notice)))
            default:
                return Response(status: .notFound)
            }
        }
    }
}
