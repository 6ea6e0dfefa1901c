public import DispatchConfig

/// The configuration of a standalone cluster for end-to-end tests: the shipped generator with the tests' tokens.
public typealias StandaloneCluster = StandaloneConfiguration

extension StandaloneConfiguration {
    /// The embedded API on 127.0.0.1:`apiPort`, the loopback driver, three instance types, quick timeouts, and
    /// the end-to-end tests' root, submitter and management tokens.
    public init(dataDirectory: String, apiPort: Int) {
        self.init(
            dataDirectory: dataDirectory,
            apiPort: apiPort,
            rootToken: "e2e-root-token",
            submitterToken: "e2e-submitter-token",
            managementToken: "e2e-management-token"
        )
    }
}
