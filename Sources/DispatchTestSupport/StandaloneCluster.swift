/// The configuration of a standalone cluster for end-to-end tests: the embedded API on 127.0.0.1, the loopback
/// (or simulated) driver, three instance types and quick timeouts.
public struct StandaloneCluster: Sendable {
    public var clusterID = "zzzzz"
    public var dataDirectory: String
    public var apiPort: Int
    public var rootToken = "e2e-root-token"
    public var submitterToken = "e2e-submitter-token"
    public var driver = "loopback"
    public var driverParameters = "{}"
    public var maxInstances = 4
    public var timeoutIdle = "2s"
    public var pollInterval = "1s"
    public var staleLockTimeout = "10s"
    /// Where the management API listens, if anywhere.
    public var managementPort: Int?
    public var managementToken = "e2e-management-token"
    /// `DispatchCloud.ProcessSandbox.Mode`, when set (else the default, bwrap).
    public var processSandboxMode: String?
    /// `http`, or `https` for both APIs (with ``tlsCertificate`` and ``tlsKey``).
    public var scheme = "http"
    /// `TLS.Certificate` and `TLS.Key` values (`file://` URLs or PEM), when set.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// `Containers.LocalKeepBlobBuffersPerVCPU` (0: runners get no cluster document).
    public var localKeepBlobBuffersPerVCPU = 0
    /// `Containers.CloudVMs.DeployRunnerBinary`, when set (else the default, the `dispatch-runner` next to
    /// `dispatch-cloud`).
    public var deployRunnerBinary: String?
    /// Extra YAML under the cluster, indented four spaces (sections such as `Collections`).
    public var extraClusterYAML = ""

    public init(dataDirectory: String, apiPort: Int) {
        self.dataDirectory = dataDirectory
        self.apiPort = apiPort
    }

    /// The API root, `http://127.0.0.1:<port>` (or `https://`).
    public var apiURL: String { "\(self.scheme)://127.0.0.1:\(self.apiPort)" }

    /// The YAML document.
    public var yaml: String {
        """
        Clusters:
          \(self.clusterID):
            SystemRootToken: \(self.rootToken)
            ManagementToken: \(self.managementToken)
        \(self.tlsLine)
            Services:
              Controller:
                ExternalURL: \(self.apiURL)
                InternalURLs:
                  \(self.apiURL): {}
        \(self.managementPort.map { "      DispatchCloud:\n        InternalURLs:\n          \(self.scheme)://127.0.0.1:\($0): {}" } ?? "")
            Containers:
              RuntimeEngine: process
              ReserveExtraRAM: 256MiB
              LocalKeepBlobBuffersPerVCPU: \(self.localKeepBlobBuffersPerVCPU)
              StaleLockTimeout: \(self.staleLockTimeout)
              CloudVMs:
                Enable: true
                Driver: \(self.driver)
                DriverParameters: \(self.driverParameters)
                BootProbeCommand: "true"
                ImageID: test-image
                MaxInstances: \(self.maxInstances)
                PollInterval: \(self.pollInterval)
                ProbeInterval: 500ms
                SyncInterval: 2s
                TimeoutIdle: \(self.timeoutIdle)
                TimeoutBooting: 1m
                TimeoutProbe: 1m
                TimeoutShutdown: 5s
                TimeoutSignal: 1s
                TimeoutTERM: 10s
                DeployRunnerDirectory: \(self.dataDirectory)/runner
        \(self.deployRunnerBinary.map { "        DeployRunnerBinary: \($0)" } ?? "")
            InstanceTypes:
              small:
                VCPUs: 1
                RAM: 1GiB
                IncludedScratch: 2GiB
                Price: 0.01
              medium:
                VCPUs: 2
                RAM: 2GiB
                IncludedScratch: 4GiB
                Price: 0.02
              large:
                VCPUs: 4
                RAM: 4GiB
                IncludedScratch: 8GiB
                Price: 0.04
            DispatchCloud:
              DataDirectory: \(self.dataDirectory)
              EmbeddedContainerAPI: true
              SubmitterTokens:
                - \(self.submitterToken)
        \(self.processSandboxMode.map { "      ProcessSandbox:\n        Mode: \($0)" } ?? "")
        \(self.extraClusterYAML)

        """
    }

    private var tlsLine: String {
        guard let certificate = self.tlsCertificate, let key = self.tlsKey else { return "" }
        return "    TLS: {Certificate: \"\(certificate)\", Key: \"\(key)\"}"
    }
}
