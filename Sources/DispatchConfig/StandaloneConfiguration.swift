/// The configuration document of a standalone cluster on this machine: the embedded container API on
/// 127.0.0.1, the loopback (or simulated) driver, three small instance types and quick timeouts.
///
/// One generator for every place that writes such a cluster: `dispatch-cloud demo`, the benchmarks and the
/// end-to-end tests. Each sets what it needs and renders ``yaml``; an empty string or `nil` leaves its key out,
/// so the Arvados default applies.
public struct StandaloneConfiguration: Sendable {
    public var clusterID = "zzzzz"
    /// `DispatchCloud.DataDirectory`; the runner is deployed to `<dataDirectory>/runner`.
    public var dataDirectory: String
    /// The embedded API's port on 127.0.0.1.
    public var apiPort: Int
    /// `SystemRootToken`.
    public var rootToken: String
    /// The one `DispatchCloud.SubmitterTokens` entry; empty for none.
    public var submitterToken: String
    /// `ManagementToken`; empty to leave it out.
    public var managementToken: String
    /// Where the management API listens on 127.0.0.1 (`Services.DispatchCloud.InternalURLs`), if anywhere.
    public var managementPort: Int?
    /// `http`, or `https` for both APIs (with ``tlsCertificate`` and ``tlsKey``).
    public var scheme = "http"
    /// `TLS.Certificate` and `TLS.Key` values (`file://` URLs or PEM), when set.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// `CloudVMs.Driver` and its `DriverParameters` (a YAML flow mapping).
    public var driver = "loopback"
    public var driverParameters = "{}"
    public var imageID = "test-image"
    public var maxInstances = 4
    public var pollInterval = "1s"
    public var probeInterval = "500ms"
    public var syncInterval = "2s"
    public var timeoutIdle = "2s"
    /// `Containers.StaleLockTimeout`; `nil` for the default.
    public var staleLockTimeout: String? = "10s"
    /// The other `CloudVMs.Timeout*` values; `nil` for the default.
    public var timeoutBooting: String? = "1m"
    public var timeoutProbe: String? = "1m"
    public var timeoutShutdown: String? = "5s"
    public var timeoutSignal: String? = "1s"
    public var timeoutTERM: String? = "10s"
    /// `Containers.LocalKeepBlobBuffersPerVCPU` (0: runners get no cluster document).
    public var localKeepBlobBuffersPerVCPU = 0
    /// `Containers.CloudVMs.DeployRunnerBinary`, when set (else the default, the `dispatch-runner` next to
    /// `dispatch-cloud`).
    public var deployRunnerBinary: String?
    /// `DispatchCloud.ProcessSandbox.Mode`, when set (else the default, bwrap).
    public var processSandboxMode: String?
    /// The entries under `InstanceTypes:`, indented six spaces.
    public var instanceTypesYAML = """
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
        """
    /// Extra YAML under the cluster, indented four spaces (sections such as `Collections`).
    public var extraClusterYAML = ""

    public init(
        dataDirectory: String,
        apiPort: Int,
        rootToken: String,
        submitterToken: String = "",
        managementToken: String = ""
    ) {
        self.dataDirectory = dataDirectory
        self.apiPort = apiPort
        self.rootToken = rootToken
        self.submitterToken = submitterToken
        self.managementToken = managementToken
    }

    /// The API root, `http://127.0.0.1:<port>` (or `https://`).
    public var apiURL: String { "\(self.scheme)://127.0.0.1:\(self.apiPort)" }

    /// The YAML document.
    public var yaml: String {
        var lines = [
            "Clusters:",
            "  \(self.clusterID):",
            "    SystemRootToken: \(self.rootToken)",
        ]
        if !self.managementToken.isEmpty { lines.append("    ManagementToken: \(self.managementToken)") }
        if let certificate = self.tlsCertificate, let key = self.tlsKey {
            lines.append("    TLS: {Certificate: \"\(certificate)\", Key: \"\(key)\"}")
        }
        lines += [
            "    Services:",
            "      Controller:",
            "        ExternalURL: \(self.apiURL)",
            "        InternalURLs:",
            "          \(self.apiURL): {}",
        ]
        if let port = self.managementPort {
            lines += [
                "      DispatchCloud:",
                "        InternalURLs:",
                "          \(self.scheme)://127.0.0.1:\(port): {}",
            ]
        }
        lines += [
            "    Containers:",
            "      RuntimeEngine: process",
            "      ReserveExtraRAM: 256MiB",
            "      LocalKeepBlobBuffersPerVCPU: \(self.localKeepBlobBuffersPerVCPU)",
        ]
        if let timeout = self.staleLockTimeout { lines.append("      StaleLockTimeout: \(timeout)") }
        lines += [
            "      CloudVMs:",
            "        Enable: true",
            "        Driver: \(self.driver)",
            "        DriverParameters: \(self.driverParameters)",
            "        BootProbeCommand: \"true\"",
            "        ImageID: \(self.imageID)",
            "        MaxInstances: \(self.maxInstances)",
            "        PollInterval: \(self.pollInterval)",
            "        ProbeInterval: \(self.probeInterval)",
            "        SyncInterval: \(self.syncInterval)",
            "        TimeoutIdle: \(self.timeoutIdle)",
        ]
        let timeouts = [
            ("TimeoutBooting", self.timeoutBooting), ("TimeoutProbe", self.timeoutProbe),
            ("TimeoutShutdown", self.timeoutShutdown), ("TimeoutSignal", self.timeoutSignal),
            ("TimeoutTERM", self.timeoutTERM),
        ]
        for case (let key, let value?) in timeouts { lines.append("        \(key): \(value)") }
        lines.append("        DeployRunnerDirectory: \(self.dataDirectory)/runner")
        if let binary = self.deployRunnerBinary { lines.append("        DeployRunnerBinary: \(binary)") }
        lines.append("    InstanceTypes:")
        lines.append(self.instanceTypesYAML)
        lines += [
            "    DispatchCloud:",
            "      DataDirectory: \(self.dataDirectory)",
            "      EmbeddedContainerAPI: true",
        ]
        if !self.submitterToken.isEmpty {
            lines += ["      SubmitterTokens:", "        - \(self.submitterToken)"]
        }
        if let mode = self.processSandboxMode { lines += ["      ProcessSandbox:", "        Mode: \(mode)"] }
        if !self.extraClusterYAML.isEmpty { lines.append(self.extraClusterYAML) }
        return lines.joined(separator: "\n") + "\n"
    }
}
