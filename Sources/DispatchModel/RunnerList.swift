/// What `crunch-run --list` (and `dispatch-runner --list`) reports about one worker: the containers it is
/// running, the stale locks it holds, and whether the node is broken.
///
/// The wire format is one item per line: `<uuid>` for a live runner, `<uuid> stale` for a lock file
/// still locked by no live runner, and `broken` when the node has marked itself broken.
public struct RunnerList: Hashable, Sendable {
    /// Containers with a live runner.
    public var running: [ContainerUUID]
    /// Containers whose lock is held but whose runner is gone (typically an orphaned `arv-mount`).
    public var stale: [ContainerUUID]
    /// The node reports itself broken and must not get new containers.
    public var broken: Bool

    public init(running: [ContainerUUID] = [], stale: [ContainerUUID] = [], broken: Bool = false) {
        self.running = running
        self.stale = stale
        self.broken = broken
    }

    /// The marker a runner prints after a UUID whose lock is stale.
    public static let staleSuffix = " stale"
    /// The line a runner prints when the node is broken.
    public static let brokenLine = "broken"

    /// Parses `--list` output as the dispatcher does.
    ///
    /// Lines that are neither `broken` nor start with `clusterID` are ignored, so several clusters can share
    /// one host (as loopback instances do). Blank lines are ignored.
    public init(parsing output: String, clusterID: ClusterID) {
        self.init()
        for line in output.split(separator: "\n", omittingEmptySubsequences: true) {
            if line == Self.brokenLine {
                self.broken = true
            } else if !line.hasPrefix(clusterID.rawValue) {
                continue
            } else if line.hasSuffix(Self.staleSuffix) {
                self.stale.append(ContainerUUID(rawValue: String(line.dropLast(Self.staleSuffix.count))))
            } else {
                self.running.append(ContainerUUID(rawValue: String(line)))
            }
        }
    }

    /// The `--list` output for this report: running UUIDs, then stale ones, then `broken`, each on a line.
    public var rendered: String {
        var lines = self.running.map(\.rawValue)
        lines += self.stale.map { $0.rawValue + Self.staleSuffix }
        if self.broken { lines.append(Self.brokenLine) }
        return lines.map { $0 + "\n" }.joined()
    }
}
