import Synchronization

/// The one-shot "listening on port N" event of a server, which any number of tasks may wait for.
///
/// The server calls ``succeed(_:)`` once it listens and ``fail(_:)`` when it stops or fails; a waiter that
/// comes after either gets the same answer at once.
public final class ListeningEvent<Failure: Error & Sendable>: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Int, any Error>])
        case listening(Int)
        case stopped(Failure)
    }

    private let state = Mutex(State.waiting([]))
    /// What a waiter gets if waiting itself fails (it cannot: the continuation is only ever resumed here).
    private let unexpected: @Sendable (any Error) -> Failure

    /// - Parameter unexpected: wraps an error that is not a `Failure` (none is ever thrown).
    public init(unexpected: @escaping @Sendable (any Error) -> Failure) {
        self.unexpected = unexpected
    }

    /// The server listens on `port`; wakes every waiter.
    public func succeed(_ port: Int) {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Int, any Error>] in
            guard case .waiting(let waiters) = state else { return [] }
            state = .listening(port)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    /// The server stopped or failed with `error`; from now on every waiter gets it.
    public func fail(_ error: Failure) {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Int, any Error>] in
            defer { state = .stopped(error) }
            guard case .waiting(let waiters) = state else { return [] }
            return waiters
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// The port, once the server listens; throws the failure if it stopped or failed first.
    public func port() async throws(Failure) -> Int {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let ready = self.state.withLock { state -> Result<Int, Failure>? in
                    switch state {
                    case .waiting(var waiters):
                        waiters.append(continuation)
                        state = .waiting(waiters)
                        return nil
                    case .listening(let port): return .success(port)
                    case .stopped(let error): return .failure(error)
                    }
                }
                if let ready { continuation.resume(with: ready.mapError { $0 as any Error }) }
            }
        } catch let error as Failure {
            throw error
        } catch {
            throw self.unexpected(error)
        }
    }
}
