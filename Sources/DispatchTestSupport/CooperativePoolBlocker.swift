import Dispatch
import Foundation
import Synchronization

/// Keeps every thread of Swift's cooperative pool busy until released, as a dispatcher's long synchronous jobs
/// do on a loaded machine: a test checks that some work (a request's handler) does not need that pool.
///
/// It queues more busy jobs than the pool has threads, so every thread runs one and any job queued after them
/// waits. The jobs spin (yielding the core between checks) rather than wait: on Linux, libdispatch adds threads
/// to a pool whose threads sleep, but not to one whose threads are runnable, as busy ones are.
///
/// Use it from a thread outside the pool (a Dispatch thread: see ``whileBlocked(jobs:_:)``): once the pool is
/// full, no task can run there, the test's own included.
public final class CooperativePoolBlocker: Sendable {
    private let open = Atomic<Bool>(false)
    private let running = Atomic<Int>(0)

    private init() {}

    /// Fills the cooperative pool with `jobs` busy jobs (by default four per core, more than the pool's one per
    /// core), runs `body` on a Dispatch thread once they have started, giving it the number running (the pool's
    /// busy threads), then releases the pool and returns what `body` returned.
    public static func whileBlocked<T: Sendable>(
        jobs: Int? = nil,
        _ body: @escaping @Sendable (_ busyThreads: Int) -> T
    ) async -> T {
        let blocker = CooperativePoolBlocker()
        let jobs = jobs ?? 4 * ProcessInfo.processInfo.activeProcessorCount + 4
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                for _ in 0..<jobs {
                    Task.detached { blocker.spin() }
                }
                // Every thread of the pool takes one of the queued jobs as soon as it is free.
                let deadline = Date().addingTimeInterval(30)
                var last = -1
                while Date() < deadline {
                    usleep(200_000)
                    let now = blocker.running.load(ordering: .relaxed)
                    if now > 0 && now == last { break }
                    last = now
                }
                let result = body(blocker.running.load(ordering: .relaxed))
                blocker.open.store(true, ordering: .releasing)
                continuation.resume(returning: result)
            }
        }
    }

    private func spin() {
        self.running.add(1, ordering: .relaxed)
        while !self.open.load(ordering: .acquiring) {
            sched_yield()
        }
    }
}
