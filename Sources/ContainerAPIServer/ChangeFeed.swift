import Foundation
import Synchronization

/// Tells subscribers in the same process that containers were created or changed, so an embedded
/// dispatcher learns of new work at once instead of at its next poll.
///
/// Each subscriber's stream buffers one element: a burst of changes wakes it once.
public final class ChangeFeed: Sendable {
    private let subscribers = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])

    public init() {}

    /// A stream that yields after containers change; it ends when the subscriber stops iterating.
    public func subscribe() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        self.subscribers.withLock { $0[id] = continuation }
        return stream
    }

    /// Wakes every subscriber.
    func signal() {
        for continuation in self.subscribers.withLock({ Array($0.values) }) { continuation.yield() }
    }
}
