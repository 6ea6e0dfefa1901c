public import DispatchModel
import Foundation
import Synchronization

/// Pushes every committed container change, in commit order, to subscribers in the same process, so an
/// embedded dispatcher learns of new work and of runners' updates at once instead of at its next poll, and
/// without fetching what it is told.
///
/// The store publishes from its writer right after each commit, before the request that made the change is
/// answered; so once a client has its answer, the change is in some subscriber's next batch. A subscriber never
/// misses a change: what it has not taken yet waits in its ``Subscription``.
public final class ChangeFeed: Sendable {
    /// The changes a subscriber took at once.
    public struct Batch: Sendable {
        /// The containers as committed, oldest change first; a container changed twice appears twice.
        public var containers: [Container]
        /// When the batch was taken, read from the subscriber's wall clock as it was taken: every change whose
        /// request was answered before this time is in this batch or an earlier one.
        public var complete: Timestamp
    }

    /// One subscriber's pending changes.
    public final class Subscription: Sendable {
        private struct State {
            var pending: [Container] = []
            var waiter: CheckedContinuation<Void, Never>?
            var cancelled = false
        }

        private let state = Mutex(State())
        private let onCancel: @Sendable () -> Void

        init(onCancel: @escaping @Sendable () -> Void) {
            self.onCancel = onCancel
        }

        /// Waits for changes and takes every one pending; `nil` once cancelled.
        ///
        /// - Parameter wallClock: The subscriber's wall clock, read as the batch is taken for
        ///   ``Batch/complete``, so the time is in the subscriber's own time base (a simulation's, in one).
        public func next(wallClock: () -> Timestamp = Timestamp.now) async -> Batch? {
            while true {
                let taken: Batch?? = self.state.withLock { state in
                    if state.cancelled { return .some(nil) }
                    guard !state.pending.isEmpty else { return nil }
                    defer { state.pending = [] }
                    return Batch(containers: state.pending, complete: wallClock())
                }
                if let taken { return taken }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = self.state.withLock { state in
                            if state.cancelled || !state.pending.isEmpty { return true }
                            state.waiter = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.cancel()
                }
            }
        }

        /// Stops the subscription: ``next()`` returns `nil` and nothing more is kept for it.
        public func cancel() {
            let waiter = self.state.withLock { state in
                state.cancelled = true
                state.pending = []
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
            self.onCancel()
        }

        func deliver(_ containers: [Container]) {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard !state.cancelled else { return nil }
                state.pending += containers
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    private let subscribers = Mutex<[UUID: Subscription]>([:])

    public init() {}

    /// Starts receiving every change committed from now on.
    public func subscribe() -> Subscription {
        let id = UUID()
        let subscription = Subscription { [weak self] in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        self.subscribers.withLock { $0[id] = subscription }
        return subscription
    }

    /// Hands committed containers to every subscriber; the store calls it from its writer, in commit order.
    func publish(_ containers: [Container]) {
        guard !containers.isEmpty else { return }
        for subscription in self.subscribers.withLock({ Array($0.values) }) { subscription.deliver(containers) }
    }
}
