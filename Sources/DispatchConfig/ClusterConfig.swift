public import DispatchModel

/// Placeholder replaced by the configuration loader.
public struct ClusterConfig: Sendable {
    public var clusterID: ClusterID
    public init(clusterID: ClusterID) { self.clusterID = clusterID }
}
