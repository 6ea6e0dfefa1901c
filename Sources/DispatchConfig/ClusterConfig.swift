public import DispatchModel

/// The configuration of one Arvados cluster, as the dispatcher reads it (`Clusters.<id>.*`).
///
/// Every property starts at the Arvados default (`lib/config/config.default.yml`), so a value built with
/// ``init(clusterID:)`` is the effective configuration of a file that sets nothing. Load a file with
/// ``load(contentsOfFile:)`` or ``load(yaml:sourceName:)``; render the effective configuration with
/// ``renderEffectiveYAML()``. Secrets are ``Secret`` values and never print.
public struct ClusterConfig: Sendable, CustomStringConvertible {
    /// The five-character cluster identifier: the key under `Clusters`.
    public var clusterID: ClusterID
    /// `SystemRootToken`: the dispatcher's API token.
    public var systemRootToken: Secret = ""
    /// `ManagementToken`: the bearer token of the management API and metrics; empty disables them.
    public var managementToken: Secret = ""
    /// `Services.*`: the URLs of the services the dispatcher talks to or serves.
    public var services = Services()
    /// `TLS.*`.
    public var tls = TLS()
    /// `API.*`.
    public var api = API()
    /// `Containers.*`, including `Containers.CloudVMs.*`.
    public var containers = Containers()
    /// `InstanceTypes`, by name, including the `<name>.preemptible` variants derived from
    /// `Containers.PreemptiblePriceFactor`.
    public var instanceTypes: [InstanceTypeName: InstanceType] = [:]
    /// `DispatchCloud.*`: this implementation's own settings (not Arvados keys).
    public var dispatchCloud = DispatchCloudSettings()
    /// Arvados's sections this dispatcher does not model (`Collections`, `Volumes`, `SystemLogs`, …), as
    /// written, for the cluster document runners get (``arvadosJSON()``). May hold secrets; never printed.
    public var passthroughSections = PassthroughSections()

    public init(clusterID: ClusterID) { self.clusterID = clusterID }

    public var description: String { "ClusterConfig(\(self.clusterID), \(self.instanceTypes.count) instance types)" }

    /// The instance types sorted by price, then name.
    public var sortedInstanceTypes: [InstanceType] {
        self.instanceTypes.values.sorted { ($0.price, $0.name) < ($1.price, $1.name) }
    }

    /// The instance-type chooser for this configuration: the menu plus the settings that add overhead.
    public var instanceTypeChooser: InstanceTypeChooser {
        InstanceTypeChooser(
            types: self.sortedInstanceTypes,
            maximumPriceFactor: self.containers.maximumPriceFactor,
            reserveExtraRAM: self.containers.reserveExtraRAM,
            localKeepBlobBuffersPerVCPU: self.containers.localKeepBlobBuffersPerVCPU
        )
    }
}

extension ClusterConfig {
    /// `Services.*`: only the services the dispatcher uses are modelled.
    public struct Services: Hashable, Sendable {
        /// `Services.Controller`: the Arvados API server the dispatcher talks to.
        public var controller = Service()
        /// `Services.DispatchCloud`: where the dispatcher's management API listens.
        public var dispatchCloud = Service()

        public init() {}
    }

    /// One `Services.<name>` section.
    public struct Service: Hashable, Sendable {
        /// `ExternalURL`: the URL clients use; empty when unset.
        public var externalURL: String = ""
        /// `InternalURLs`: the URLs the service listens on, sorted.
        public var internalURLs: [InternalURL] = []

        public init(externalURL: String = "", internalURLs: [InternalURL] = []) {
            self.externalURL = externalURL
            self.internalURLs = internalURLs
        }
    }

    /// One key of `Services.<name>.InternalURLs`, with its optional settings.
    public struct InternalURL: Hashable, Sendable, Comparable {
        /// The URL other hosts use to reach this instance of the service.
        public var url: String
        /// `ListenURL`: where to listen when it differs from ``url`` (behind a proxy); empty when unset.
        public var listenURL: String

        public init(url: String, listenURL: String = "") {
            self.url = url
            self.listenURL = listenURL
        }

        /// The address to listen on: ``listenURL`` if set, else ``url``.
        public var effectiveListenURL: String { self.listenURL.isEmpty ? self.url : self.listenURL }

        public static func < (lhs: InternalURL, rhs: InternalURL) -> Bool { lhs.url < rhs.url }
    }

    /// `TLS.*`.
    public struct TLS: Hashable, Sendable {
        /// `TLS.Insecure`: skip verification of the API server's certificate (and tell runners to).
        public var insecure = false
        /// `TLS.Certificate`: the servers' certificate chain, a `file://` URL or inline PEM; empty for none.
        public var certificate = ""
        /// `TLS.Key`: the private key of ``certificate``, a `file://` URL or inline PEM. Never shown.
        public var key = Secret("")

        public init() {}
    }

    /// `API.*`.
    public struct API: Hashable, Sendable {
        /// `API.MaxConcurrentRequests`: the API client allows a quarter of this in flight.
        public var maxConcurrentRequests = 64

        public init() {}
    }

    /// `Containers.*`.
    public struct Containers: Hashable, Sendable {
        /// `CrunchRunCommand`: the runner command when the runner binary is not deployed.
        public var crunchRunCommand = "crunch-run"
        /// `CrunchRunArgumentsList`: extra runner arguments, after `--runtime-engine=<RuntimeEngine>`.
        public var crunchRunArgumentsList: [String] = []
        /// `RuntimeEngine`: `docker` or `singularity`.
        public var runtimeEngine = "docker"
        /// `DispatchPrivateKey`: the SSH private key (PEM or OpenSSH); a `file:///path` value is replaced
        /// by the file's contents at load.
        public var dispatchPrivateKey: Secret = ""
        /// `StaleLockTimeout`: how long to wait for runners to report before unlocking stale containers.
        public var staleLockTimeout: Duration = .seconds(60)
        /// `ReserveExtraRAM`: memory added to every container's need.
        public var reserveExtraRAM: ByteSize = .miB(550)
        /// `MaximumPriceFactor`: eligible types may cost up to this multiple of the cheapest.
        public var maximumPriceFactor = 1.5
        /// `LocalKeepBlobBuffersPerVCPU`: when positive, runners start a local keepstore with this many
        /// buffers per VCPU (and receive the cluster configuration).
        public var localKeepBlobBuffersPerVCPU = 1
        /// `PreemptiblePriceFactor`: when positive, every non-preemptible type gets a `<name>.preemptible`
        /// variant at this multiple of its price.
        public var preemptiblePriceFactor = 0.0
        /// `AlwaysUsePreemptibleInstances`: applied by the API server to child containers.
        public var alwaysUsePreemptibleInstances = false
        /// `MaxDispatchAttempts`: the API server cancels a container locked this many times.
        public var maxDispatchAttempts = 10
        /// `CloudVMs.*`.
        public var cloudVMs = CloudVMs()

        public init() {}
    }

    /// `Containers.CloudVMs.*`: the worker pool, its timeouts and the cloud driver.
    ///
    /// Where Arvados treats a zero or negative value as "use the built-in default", the value is kept as
    /// written; the components apply that rule.
    public struct CloudVMs: Hashable, Sendable {
        /// `Enable`: whether `arvados-server boot` runs the dispatcher. The dispatcher does not read it.
        public var enable = false
        /// `SSHPort`: used when an instance's address has no port.
        public var sshPort = "22"
        /// `PollInterval`: minimum interval between queue polls.
        public var pollInterval: Duration = .seconds(10)
        /// `BootProbeCommand`: succeeds once a worker has booted; empty means `true`.
        public var bootProbeCommand = "systemctl is-system-running"
        /// `ProbeInterval`: how often each worker is probed.
        public var probeInterval: Duration = .seconds(10)
        /// `MaxProbesPerSecond`: global probe start rate.
        public var maxProbesPerSecond = 10
        /// `TimeoutSignal`: interval between SIGTERM attempts.
        public var timeoutSignal: Duration = .seconds(5)
        /// `TimeoutStaleRunLock`: how long a `stale` runner lock may be reported before the worker is broken.
        public var timeoutStaleRunLock: Duration = .seconds(5)
        /// `TimeoutTERM`: how long to keep sending SIGTERM before draining the worker.
        public var timeoutTERM: Duration = .seconds(120)
        /// `MaxCloudOpsPerSecond`: rate of create/list/destroy/tag calls; 0 is unlimited.
        public var maxCloudOpsPerSecond = 10
        /// `MaxConcurrentInstanceCreateOps`: create calls in flight; 0 is unlimited.
        public var maxConcurrentInstanceCreateOps = 1
        /// `MaxInstances`: hard cap on instances; 0 is unlimited.
        public var maxInstances = 64
        /// `MaxRunningContainersPerInstance`: 0 is unlimited.
        public var maxRunningContainersPerInstance = 0
        /// `InitialQuotaEstimate`: initial dynamic container limit; 0 means ``maxInstances``.
        public var initialQuotaEstimate = 0
        /// `SupervisorFraction`: the share of the container limit supervisor containers may take.
        public var supervisorFraction = 0.5
        /// `SyncInterval`: how often the cloud's instance list is read.
        public var syncInterval: Duration = .seconds(60)
        /// `TimeoutIdle`: idle time before an instance is shut down.
        public var timeoutIdle: Duration = .seconds(60)
        /// `TimeoutBooting`: how long an instance may take to pass its boot probe.
        public var timeoutBooting: Duration = .seconds(600)
        /// `TimeoutProbe`: how long probes may fail before the instance is shut down.
        public var timeoutProbe: Duration = .seconds(600)
        /// `TimeoutShutdown`: interval between destroy retries.
        public var timeoutShutdown: Duration = .seconds(10)
        /// `ImageID`: the image new instances boot from.
        public var imageID: ImageID = ""
        /// `InstanceInitCommand`: appended to the instance's init script.
        public var instanceInitCommand = ""
        /// `DeployRunnerBinary`: the binary copied to workers as the runner; empty uses `CrunchRunCommand`.
        public var deployRunnerBinary = "/proc/self/exe"
        /// `DeployRunnerDirectory`: where the runner binary is installed on workers.
        public var deployRunnerDirectory = "/tmp/arvados-crunch-run"
        /// `DeployPublicKey`: pass the dispatcher's public key to the driver at create.
        public var deployPublicKey = true
        /// `ResourceTags`: extra tags on every instance.
        public var resourceTags: [String: String] = [:]
        /// `TagKeyPrefix`: prefix of the tag keys the dispatcher owns.
        public var tagKeyPrefix = "Arvados"
        /// `Driver`: `ec2`, `azure`, `loopback`, …; checked when the driver is chosen, not at load.
        public var driver = "ec2"
        /// `DriverParameters`: handed unparsed to the driver.
        public var driverParameters = DriverParameters()

        public init() {}
    }

    /// `DispatchCloud.*`: settings of this implementation that Arvados does not have.
    public struct DispatchCloudSettings: Hashable, Sendable {
        /// `DataDirectory`: where the dispatcher keeps its state (the embedded API's database, keys).
        public var dataDirectory = "/var/lib/dispatch-cloud"
        /// `EmbeddedContainerAPI`: serve the embedded Arvados-compatible container API (standalone mode).
        public var embeddedContainerAPI = false
        /// `SubmitterTokens`: tokens allowed to submit containers to the embedded API.
        public var submitterTokens: [Secret] = []
        /// `ProcessSandbox`: how `RuntimeEngine: process` isolates containers.
        public var processSandbox = ProcessSandbox()
        /// `InsecurePlainHTTPOnPrivateNetwork`: allow plain HTTP (tokens in clear) on non-loopback addresses,
        /// for a network the operator asserts is private. Off: `serve` refuses it.
        public var insecurePlainHTTPOnPrivateNetwork = false
        /// `JournalRetention`: how long the decision journal keeps events on disk (in the data directory).
        public var journalRetention: Duration = .seconds(7 * 24 * 3600)
        /// `BootQuarantine`: when to stop creating an (instance type, image) pair whose boots keep failing.
        public var bootQuarantine = BootQuarantine()
        /// `MaxHourlySpend`: the summed hourly price of all instances (any state, spot at its current price)
        /// that no create may exceed, in the currency of `InstanceTypes.*.Price`; 0 for no cap.
        public var maxHourlySpend = 0.0
        /// `MaxSpendPerDay`: money the instances may spend in any rolling 24 hours (accounted per second and kept
        /// in `DataDirectory`); no create once what is left cannot pay the instances and a new one for an hour.
        /// 0 for no cap.
        public var maxSpendPerDay = 0.0
        /// `SpotFallbackAfter`: a container that may run on spot falls back to the on-demand variant of an eligible
        /// type once every eligible spot type has been held for capacity this long; zero (the default) never falls
        /// back, as Arvados.
        public var spotFallbackAfter: Duration = .zero
        /// `PreemptionBudget`: how many preemptions (its instance vanishing under it) a container is requeued after
        /// instead of cancelled; once it has been preempted this many times it falls back to on-demand. 0 (the
        /// default) cancels a preempted container, as Arvados.
        public var preemptionBudget = 0

        public init() {}
    }

    /// `DispatchCloud.BootQuarantine.*`: stop creating a pair whose boots keep failing.
    public struct BootQuarantine: Hashable, Sendable {
        /// `Failures`: boot failures (boot timeout, or broken) in a row, within ``window``, that start a
        /// quarantine; 0 turns quarantine off.
        public var failures = 3
        /// `Window`: the failures must fall within this long.
        public var window: Duration = .seconds(3600)
        /// `Cooldown`: the first quarantine's length; each further one in a row doubles it.
        public var cooldown: Duration = .seconds(600)
        /// `MaxCooldown`: the longest quarantine.
        public var maxCooldown: Duration = .seconds(24 * 3600)

        public init() {}
    }

    /// `DispatchCloud.ProcessSandbox.*`: the bubblewrap sandbox of the `process` runtime engine.
    public struct ProcessSandbox: Hashable, Sendable {
        public enum Mode: String, Hashable, Sendable, CaseIterable {
            /// Every container under bwrap; the dispatcher refuses to start (loopback) or the container fails
            /// (other drivers) where bwrap is missing.
            case bwrap
            /// bwrap where it is installed, else unsandboxed with a warning.
            case auto
            /// No sandbox: containers run as the runner's user and see the whole host.
            case none
        }

        /// `Mode`.
        public var mode = Mode.bwrap
        /// `User`: the user containers run as, a name, a UID or `UID:GID` (never root).
        public var user = "nobody"
        /// `ReadOnlyPaths`: host paths containers also see, read-only (absolute).
        public var readOnlyPaths: [String] = []

        public init() {}
    }
}
