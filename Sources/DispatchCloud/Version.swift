/// The DispatchCloud release this build belongs to.
public enum DispatchCloudVersion: Sendable {
    /// Semantic version of this build.
    public static let current = "0.1.0-dev"
}
