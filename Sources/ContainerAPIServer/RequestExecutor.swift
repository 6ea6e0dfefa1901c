import Foundation

/// The threads the container API's requests run on, apart from Swift's cooperative pool.
///
/// The dispatcher in the same process (scheduling passes, the pool, the queue) keeps the cooperative pool busy,
/// one thread per core, with jobs that run for milliseconds at a time; a request's handler waiting behind them
/// answered a client in up to a second at 10,000 containers. ``ContainerAPIServer`` runs its server and every
/// connection's task with this executor as their preference (their child tasks inherit it), so a request waits
/// only for the kernel to share the cores fairly between threads, never for another job to end.
///
/// The threads live as long as the process, as NIO's singleton event loops do; they sleep while no request is
/// being handled. Jobs run first come first served.
final class RequestExecutor: TaskExecutor, @unchecked Sendable {
    /// The executor every ``ContainerAPIServer`` of the process uses: one thread per core, at least two.
    static let shared = RequestExecutor(threads: max(2, ProcessInfo.processInfo.activeProcessorCount))

    // `jobs`, `head` and `jobsRun` are guarded by `condition`: that is what makes this class Sendable.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0
    private var jobsRun: UInt64 = 0

    /// Starts `threads` threads that run the jobs enqueued here.
    init(threads: Int, name: String = "container-api") {
        for index in 0..<max(1, threads) {
            let thread = Thread { [self] in self.loop() }
            thread.name = "\(name)-\(index)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.condition.lock()
        self.jobs.append(job)
        self.condition.signal()
        self.condition.unlock()
    }

    /// The number of jobs run so far.
    var jobCount: UInt64 {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.jobsRun
    }

    /// Whether the calling code runs on one of this executor's threads.
    static var isCurrentThreadOne: Bool {
        Thread.current.name?.hasPrefix("container-api-") ?? false
    }

    private func loop() {
        let executor = self.asUnownedTaskExecutor()
        while true {
            self.condition.lock()
            while self.head == self.jobs.count {
                self.condition.wait()
            }
            let job = self.jobs[self.head]
            self.head += 1
            if self.head == self.jobs.count {
                self.jobs.removeAll(keepingCapacity: true)
                self.head = 0
            } else if self.head > 4096 && self.head * 2 > self.jobs.count {
                self.jobs.removeFirst(self.head)
                self.head = 0
            }
            self.jobsRun &+= 1
            self.condition.unlock()
            job.runSynchronously(on: executor)
        }
    }
}
