/// The timeouts that drive each worker's lifecycle; defaults are Arvados's.
public struct WorkerTimeouts: Hashable, Sendable {
    /// `TimeoutBooting`: an unknown or booting worker with no successful probe for this long is destroyed.
    public var booting: Duration = .seconds(600)
    /// `TimeoutProbe`: a booted worker whose run probe fails for this long is destroyed.
    public var probe: Duration = .seconds(600)
    /// `TimeoutIdle`: an idle worker is destroyed after this long with nothing to run.
    public var idle: Duration = .seconds(60)
    /// `TimeoutStaleRunLock`: a `stale` lock reported for longer than this marks the worker broken.
    public var staleRunLock: Duration = .seconds(5)
    /// `TimeoutTERM`: stop sending SIGTERM to a runner after this long and drain the worker.
    public var term: Duration = .seconds(120)
    /// `TimeoutSignal`: the interval between SIGTERM attempts.
    public var signal: Duration = .seconds(5)
    /// `TimeoutShutdown`: destroy again if the instance is still listed this long after the last attempt.
    public var shutdown: Duration = .seconds(10)

    public init() {}
}
