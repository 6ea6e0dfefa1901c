public import CloudDriver
public import DispatchModel

extension WorkerPool {
    /// Everything the pool reads from `Containers.CloudVMs`, `Containers` and the cluster; defaults are
    /// Arvados's. The assembly maps the cluster configuration into it.
    public struct Configuration: Sendable {
        /// The value of the `<TagKeyPrefix>InstanceSetID` tag: which instances this pool owns.
        public var instanceSetID: InstanceSetID
        /// The configured instance types, by name.
        public var instanceTypes: [InstanceTypeName: InstanceType]
        /// The cluster ID: `--list` lines for other clusters are ignored.
        public var clusterID: ClusterID
        /// `CloudVMs.ImageID`.
        public var imageID: ImageID = ""
        /// `CloudVMs.TagKeyPrefix`.
        public var tagKeyPrefix = "Arvados" {
            didSet { self.tagKeys = TagKeys(prefix: self.tagKeyPrefix) }
        }
        /// The four tag keys with ``tagKeyPrefix``, joined once: every cloud list reads two of them per worker.
        private var tagKeys = TagKeys(prefix: "Arvados")
        /// `CloudVMs.ResourceTags`: extra tags on every instance (the four pool tags win).
        public var resourceTags: InstanceTags = [:]
        /// `CloudVMs.InstanceInitCommand`: appended to the secret-writing init script.
        public var instanceInitCommand = ""
        /// The dispatcher's SSH public key to install (`DeployPublicKey`), or `nil`.
        public var publicKey: String?
        /// `CloudVMs.BootProbeCommand`; empty means `true`.
        public var bootProbeCommand = "systemctl is-system-running"
        /// `CloudVMs.DeployRunnerBinary`: the runner binary to copy to workers; empty to use ``crunchRunCommand``.
        public var deployRunnerBinary = "/proc/self/exe"
        /// `CloudVMs.DeployRunnerDirectory`.
        public var deployRunnerDirectory = "/tmp/arvados-crunch-run"
        /// `Containers.CrunchRunCommand`: the runner when nothing is deployed.
        public var crunchRunCommand = "crunch-run"
        /// `Containers.CrunchRunArgumentsList`: extra runner arguments before the UUID.
        public var crunchRunArguments: [String] = []
        /// `Containers.RuntimeEngine`.
        public var runtimeEngine = "docker"
        /// `CloudVMs.SyncInterval`.
        public var syncInterval: Duration = .seconds(60)
        /// `CloudVMs.ProbeInterval`.
        public var probeInterval: Duration = .seconds(10)
        /// `CloudVMs.MaxProbesPerSecond`; 0 or less means 10, as in Arvados.
        public var maxProbesPerSecond = 10
        /// `CloudVMs.MaxConcurrentInstanceCreateOps`; 0 for no limit.
        public var maxConcurrentInstanceCreateOps = 1
        /// `CloudVMs.MaxInstances`; 0 for no limit.
        public var maxInstances = 64
        /// The worker timeouts (`TimeoutIdle`, `TimeoutBooting`, `TimeoutProbe`, `TimeoutShutdown`,
        /// `TimeoutTERM`, `TimeoutSignal`, `TimeoutStaleRunLock`).
        public var timeouts = WorkerTimeouts()
        /// `DispatchCloud.BootQuarantine`: when to stop creating a type whose boots keep failing.
        public var bootQuarantine = BootQuarantineConfiguration()
        /// `SystemRootToken`: the runners' API token and the key of the gateway auth secrets. Never logged.
        public var systemRootToken = ""
        /// The API host (`host:port`) runners talk to (`Services.Controller.ExternalURL`).
        public var apiHost = ""
        /// `http` when the API is plain HTTP (sent as `APIScheme`, which `crunch-run` ignores); `nil`: HTTPS.
        public var apiScheme: String?
        /// `TLS.Insecure`: runners skip certificate checks.
        public var apiHostInsecure = false
        /// The private CA runners trust for the API (PEM), sent as `ARVADOS_API_CA`; `nil`: the system's roots.
        public var apiHostCA: String?
        /// `Containers.LocalKeepBlobBuffersPerVCPU`.
        public var localKeepBlobBuffersPerVCPU = 1
        /// Whether the driver is `ec2`: runners on preemptible types watch for spot interruptions.
        public var ec2SpotCheck = false
        /// The cluster configuration in Arvados's JSON shape, handed to runners when
        /// ``localKeepBlobBuffersPerVCPU`` is above 0; `nil` sends `null`.
        public var clusterConfig: JSONValue?
        /// The `Sandbox` member of every runner's configuration (`DispatchCloud.ProcessSandbox`: `Mode`, `User`,
        /// `ReadOnlyPaths`), or `nil` for the runner's defaults.
        public var runnerSandbox: JSONValue?

        public init(clusterID: ClusterID, instanceSetID: InstanceSetID, instanceTypes: [InstanceType]) {
            self.clusterID = clusterID
            self.instanceSetID = instanceSetID
            self.instanceTypes = Dictionary(instanceTypes.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        }

        /// `MaxProbesPerSecond` in force: 10 when it is 0 or less.
        var probeRate: Double { Double(self.maxProbesPerSecond > 0 ? self.maxProbesPerSecond : 10) }

        /// The probe-start rate of a round over `workers` workers: `MaxProbesPerSecond`, raised to
        /// `workers / ProbeInterval` when that is more, so a round never takes longer than one `ProbeInterval`
        /// (Arvados keeps `MaxProbesPerSecond` as a ceiling: 10,000 workers at 10 a second take 16 minutes).
        ///
        /// Probes are commands on an instance, not cloud API calls, so no cloud limit applies to them; what they
        /// cost is the dispatcher's own work, which grows with the workers as everything else does. New SSH
        /// connections, the costly part, arrive no faster than the cloud creates instances
        /// (`MaxCloudOpsPerSecond`), except once after a restart.
        func probeRate(workers: Int) -> Double {
            let interval = self.probeInterval.inSeconds
            guard interval > 0, workers > 0 else { return self.probeRate }
            return max(self.probeRate, Double(workers) / interval)
        }

        /// The full tag key for `key` (`InstanceSetID`, `InstanceType`, `IdleBehavior`, `InstanceSecret`).
        public func tagKey(_ key: TagKey) -> String {
            switch key {
            case .instanceSetID: self.tagKeys.instanceSetID
            case .instanceType: self.tagKeys.instanceType
            case .idleBehavior: self.tagKeys.idleBehavior
            case .instanceSecret: self.tagKeys.instanceSecret
            }
        }
    }

    /// The full tag keys for one prefix.
    struct TagKeys: Sendable {
        var instanceSetID: String
        var instanceType: String
        var idleBehavior: String
        var instanceSecret: String

        init(prefix: String) {
            self.instanceSetID = prefix + TagKey.instanceSetID.rawValue
            self.instanceType = prefix + TagKey.instanceType.rawValue
            self.idleBehavior = prefix + TagKey.idleBehavior.rawValue
            self.instanceSecret = prefix + TagKey.instanceSecret.rawValue
        }
    }

    /// The four tags the pool puts on its instances, without the prefix.
    public enum TagKey: String, Sendable, CaseIterable {
        case instanceSetID = "InstanceSetID"
        case instanceType = "InstanceType"
        case idleBehavior = "IdleBehavior"
        case instanceSecret = "InstanceSecret"
    }
}
