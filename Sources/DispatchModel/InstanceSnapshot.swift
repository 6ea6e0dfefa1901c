/// One worker (or in-flight create) as a planning pass sees it.
///
/// The pool keeps these alongside its own views, brought up to date with them, so a pass takes the array as it
/// is (at a thousand workers, converting every view at every change of the pool was a twentieth of a simulated
/// day).
public struct InstanceSnapshot: Sendable {
    /// The cloud's ID, or `nil` while the create call is in flight.
    public var id: InstanceID?
    /// The configured type the instance was created as.
    public var type: InstanceType
    public var state: WorkerState
    public var idleBehavior: IdleBehavior
    /// The containers with a runner on the instance (starting, running, or exited and not forgotten).
    public var runningContainers: [ContainerUUID] {
        didSet {
            self.containerCount = self.runningContainers.count
            self.firstContainer = self.runningContainers.first
        }
    }
    /// `runningContainers.count`, kept in the snapshot itself: a pass reads it for every instance, and reading it
    /// from each instance's array (stored apart) missed the cache for most of them (half of building the
    /// placement index at a thousand instances).
    public private(set) var containerCount: Int
    /// `runningContainers.first`, kept in the snapshot too: most instances run one container, and a pass that reads
    /// every instance's containers then reads them in place (the array's storage missed the cache for most
    /// instances: two fifths of reading the pool for a pass at a thousand instances).
    public private(set) var firstContainer: ContainerUUID?

    /// Not here: when the instance was last busy. No pass reads it, and it moves at every probe of a busy worker,
    /// so carrying it would make every pass at a busy cluster plan afresh (the pool snapshot's version).
    public init(
        id: InstanceID?,
        type: InstanceType,
        state: WorkerState,
        idleBehavior: IdleBehavior = .run,
        runningContainers: [ContainerUUID] = []
    ) {
        self.id = id
        self.type = type
        self.state = state
        self.idleBehavior = idleBehavior
        self.runningContainers = runningContainers
        self.containerCount = runningContainers.count
        self.firstContainer = runningContainers.first
    }
}
