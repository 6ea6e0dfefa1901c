public import ArvadosAPI
public import CloudDriver
public import ContainerAPIServer
public import ContainerQueue
import Crypto
public import DecisionJournal
public import DispatchConfig
public import DispatchModel
import Foundation
public import Logging
public import ManagementAPI
public import Metrics
import NIOSSH
import RemoteExecution
import SSHExecutor
public import Scheduler
import ServiceLifecycle
import Synchronization
public import TLSSupport
import UnixSignals
package import WorkerPool

/// The whole daemon, assembled from a cluster configuration: the embedded container API (standalone), the
/// container queue, the worker pool over the configured cloud driver, and the scheduling loop, as one
/// `ServiceGroup` (reference §1.2).
///
/// SIGTERM or SIGINT shuts it down gracefully: no more creates, and containers already running are left
/// running on their instances, to be adopted by the next start.
public final class Dispatcher: Sendable {
    public let config: ClusterConfig
    /// The ownership tag value of every instance this dispatcher creates (reference §1.2).
    public let instanceSetID: InstanceSetID
    /// The worker pool, as code outside the assembly sees it (its type depends on the driver's instance set).
    public let pool: DispatcherPool
    public let queue: ContainerQueue<ContinuousClock>
    public let scheduler: SchedulingLoop<ContinuousClock>
    /// The decision journal (`journal.sqlite` in the data directory, and a ring for the live views).
    public let journal: DecisionJournal
    /// The journal's file.
    public let journalStore: JournalStore
    /// The embedded container API, when `DispatchCloud.EmbeddedContainerAPI` is on.
    public let containerAPI: ContainerAPIServer?
    /// The client the queue uses (the dispatcher's token).
    public let client: ArvadosClient
    /// The client's transport: the request limiter and retries (``PoliteTransport``).
    public let apiTransport: PoliteTransport<ContinuousClock>
    /// The certificate and key both APIs serve (`TLS.Certificate`, `TLS.Key`), re-read on SIGHUP; `nil`: plain HTTP.
    public let tlsIdentity: ServerIdentity?
    private let services: [any Service]
    /// Where the parts will listen, checked by ``run()`` before any starts.
    let listenAddresses: [ListenAddress]
    private let group = Mutex<ServiceGroup?>(nil)
    private let lock: DataDirectoryLock
    private let logger: Logger

    /// Checks the configuration and builds every part; nothing listens or calls the cloud until ``run()``.
    ///
    /// `metricsFactory` receives the metrics of the pool, the scheduler, the queue and the driver calls
    /// (tests pass an in-memory one). `quietAfter503` is how long after an API 503 the container limit stays
    /// down (Arvados: one minute, not configurable; tests shorten it).
    ///
    /// `recordsDecisions: false` gives the pool and the scheduler no journal sink (the journal file is still
    /// opened, and `explain` shows what is already in it): the benchmarks' before/after switch.
    ///
    /// Throws ``DispatcherError`` naming the key or the resource at fault: a missing token, an unusable key,
    /// an unknown driver, a data directory another dispatcher holds.
    public init(
        config: ClusterConfig,
        drivers: DriverRegistry,
        logger: Logger,
        metrics: MetricsRegistry? = nil,
        runnerSearchDirectory: String? = nil,
        metricsFactory: (any MetricsFactory)? = nil,
        quietAfter503: Duration = .seconds(60),
        recordsDecisions: Bool = true
    ) throws(DispatcherError) {
        let metricsFactory = metricsFactory ?? metrics?.factory ?? MetricsSystem.factory
        self.config = config
        self.logger = logger
        let cloudVMs = config.containers.cloudVMs
        guard !config.systemRootToken.isEmpty else {
            throw DispatcherError(.configuration, "SystemRootToken is empty: the dispatcher needs it to call the API")
        }
        let dataDirectory = config.dispatchCloud.dataDirectory
        self.lock = try DataDirectoryLock.acquire(dataDirectory)
        if let before = Self.makePrivate(directory: dataDirectory) {
            logger.warning(
                "DispatchCloud.DataDirectory was readable by others: made private (0700)",
                metadata: ["dataDirectory": "\(dataDirectory)", "previousMode": "\(String(before, radix: 8))"]
            )
        }
        self.instanceSetID = Self.instanceSetID(token: config.systemRootToken.value)
        try Self.checkTransportSecurity(config, logger: logger)
        let tlsIdentity = try Self.serverIdentity(config)
        self.tlsIdentity = tlsIdentity
        let privateCA = tlsIdentity?.current.privateCAPEM

        let configuredKey = try Self.configuredKey(config)
        do throws(JournalError) {
            self.journalStore = try JournalStore(dataDirectory: dataDirectory)
            self.journal = DecisionJournal(lastSequence: try self.journalStore.lastSequence())
        } catch {
            throw DispatcherError(.dataDirectory, "cannot open the decision journal: \(error)")
        }
        let context = Driver.Context(
            parameters: cloudVMs.driverParameters.raw,
            clusterID: config.clusterID,
            logger: logger,
            dataDirectory: dataDirectory
        )
        let product: Driver.Product
        do throws(DriverConfigurationError) {
            product = try drivers.makeInstanceSet(driver: cloudVMs.driver, context: context)
        } catch {
            throw DispatcherError(.configuration, "Containers.CloudVMs.DriverParameters.\(error.key): \(error.message)")
        }
        var privateKey = configuredKey
        if privateKey == nil {
            privateKey = try Self.fallbackKey(config, access: product.access, dataDirectory: dataDirectory)
        }

        var containerAPI: ContainerAPIServer?
        if config.dispatchCloud.embeddedContainerAPI {
            containerAPI = try Self.containerAPI(config, tls: tlsIdentity, logger: logger)
        }
        self.containerAPI = containerAPI
        self.listenAddresses = try Self.listenAddresses(config)
        let apiURL = try Self.apiURL(config)
        let baseTransport: any ArvadosTransport
        if let privateCA, apiURL.scheme == "https" {
            do throws(ArvadosAPIError) {
                // A refused handshake (an expired certificate) fails the poll at once, not at its deadline, so
                // the next poll retries and a shutdown does not wait a minute.
                baseTransport = try ArvadosClient.transport(trustingCA: privateCA, retryConnections: false)
            } catch {
                throw DispatcherError(.configuration, "TLS.Certificate: its private CA: \(error.message)")
            }
        } else {
            baseTransport = AsyncHTTPClientTransport()
        }
        // Polite to the API as Arvados's client: concurrency limited and adapted, 502/503/504 retried.
        let apiMetrics = APIClientMetrics(factory: metricsFactory)
        self.apiTransport = PoliteTransport(
            base: baseTransport,
            maxConcurrentRequests: config.api.maxConcurrentRequests,
            clock: ContinuousClock(),
            onChange: { apiMetrics.record($0) }
        )
        self.client = ArvadosClient(baseURL: apiURL, token: config.systemRootToken.value, transport: self.apiTransport)
        var queueConfiguration = ContainerQueue<ContinuousClock>.Configuration()
        queueConfiguration.pollInterval = cloudVMs.pollInterval
        queueConfiguration.pushesAreComplete = containerAPI != nil
        var queueLogger = logger
        queueLogger[metadataKey: "component"] = "queue"
        self.queue = ContainerQueue(
            client: self.client,
            chooser: config.instanceTypeChooser,
            configuration: queueConfiguration,
            clock: ContinuousClock(),
            logger: queueLogger,
            metricsFactory: metricsFactory
        )
        // What the instances cost, by day, type and container, for `dispatch-cloud costs` and the dashboard.
        let costRecorder = CostRecorder(directory: dataDirectory, logger: logger)
        // The one place that knows the driver's instance-set type.
        let assembly = try Self.assemble(
            product.instanceSet,
            access: product.access,
            privateKey: privateKey,
            parts: Parts(
                config: config,
                instanceSetID: self.instanceSetID,
                runnerSearchDirectory: runnerSearchDirectory,
                privateCA: privateCA,
                metricsFactory: metricsFactory,
                quietAfter503: quietAfter503,
                journal: recordsDecisions ? self.journal.sink : .none,
                queue: self.queue,
                apiTransport: self.apiTransport,
                costRecorder: costRecorder,
                logger: logger
            )
        )
        self.pool = assembly.pool
        self.scheduler = assembly.scheduler

        var journalLogger = logger
        journalLogger[metadataKey: "component"] = "journal"
        // First, so it stops last and writes what the others recorded while stopping.
        var services: [any Service] = [
            JournalWriter(
                journal: self.journal,
                store: self.journalStore,
                retention: config.dispatchCloud.journalRetention,
                clock: ContinuousClock(),
                logger: journalLogger
            )
        ]
        if let containerAPI {
            services.append(containerAPI)
            // Subscribed before anything can change a container, so the queue misses nothing.
            services.append(PushUpdates(changes: containerAPI.changes.subscribe(), queue: self.queue))
        }
        if let run = product.run { services.append(DriverService(body: run)) }
        services += assembly.poolServices
        services.append(AfterAPI(api: containerAPI, service: self.queue))
        services.append(self.scheduler)
        if let listen = try Self.managementListenAddress(config) {
            var managementLogger = logger
            managementLogger[metadataKey: "component"] = "management"
            services.append(
                Self.managementServer(
                    assembly.control(self.journal, self.journalStore),
                    host: listen.host,
                    port: listen.port,
                    token: config.managementToken.value,
                    metrics: metrics,
                    logger: managementLogger,
                    tls: listen.https ? tlsIdentity : nil
                )
            )
        } else {
            logger.warning("Services.DispatchCloud.InternalURLs is empty: the management API is not served")
        }
        if let tlsIdentity {
            services.append(
                CertificateReloader(identity: tlsIdentity, metricsFactory: metricsFactory, logger: logger)
            )
        }
        self.services = services
    }

    /// Runs every part until SIGTERM or SIGINT (or until the task is cancelled), then shuts down gracefully.
    ///
    /// Before any part starts, checks that every listen address is free (see ``checkListenAddresses()``).
    public func run(signals: Bool = true) async throws {
        do {
            try self.checkListenAddresses()
        } catch {
            self.lock.release()
            throw error
        }
        self.logger.info(
            "Dispatcher starting",
            metadata: [
                "cluster": "\(self.config.clusterID)",
                "driver": "\(self.config.containers.cloudVMs.driver)",
                "instanceSetID": "\(self.instanceSetID)",
                "dataDirectory": "\(self.config.dispatchCloud.dataDirectory)",
            ]
        )
        // The signals are watched here rather than by the group, so that each one is logged as it arrives.
        let group = ServiceGroup(
            configuration: .init(
                services: self.services.map { .init(service: $0) },
                gracefulShutdownSignals: [],
                logger: self.logger
            )
        )
        self.group.withLock { $0 = group }
        defer { self.lock.release() }
        let logger = self.logger
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                if signals {
                    tasks.addTask {
                        var stopping = false
                        for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                            if stopping {
                                logger.notice(
                                    "Signal received while stopping: still stopping",
                                    metadata: ["signal": "\(signal)"]
                                )
                                continue
                            }
                            stopping = true
                            logger.notice(
                                "Signal received: stopping gracefully (running containers keep running)",
                                metadata: ["signal": "\(signal)"]
                            )
                            await group.triggerGracefulShutdown()
                        }
                    }
                }
                try await group.run()
                tasks.cancelAll()
            }
        } catch {
            logger.error("Dispatcher stopped on an error", metadata: ["error": "\(error)"])
            throw error
        }
        logger.notice("Dispatcher stopped")
    }

    /// Shuts down gracefully, as SIGTERM does: ``run()`` returns once every part has stopped.
    public func shutdown() async {
        await self.group.withLock { $0 }?.triggerGracefulShutdown()
    }

    /// The port the embedded container API listens on, once it does.
    public func containerAPIPort() async throws -> Int? {
        guard let containerAPI = self.containerAPI else { return nil }
        return try await containerAPI.listeningPort()
    }

    // MARK: - Assembly

    /// The UUID part of a `v2/<uuid>/<secret>` token, else the MD5 of the token in hex (reference §1.2).
    public static func instanceSetID(token: String) -> InstanceSetID {
        let parts = token.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 3, parts[0] == "v2", !parts[1].isEmpty {
            return InstanceSetID(rawValue: String(parts[1]))
        }
        let digest = Insecure.MD5.hash(data: Array(token.utf8))
        return InstanceSetID(rawValue: digest.lowercaseHex)
    }

    /// The management API's server over `control`.
    static func managementServer(
        _ control: some DispatcherControl,
        host: String,
        port: Int,
        token: String,
        metrics: MetricsRegistry?,
        logger: Logger,
        tls: ServerIdentity?
    ) -> any Service {
        ManagementServer(
            host: host,
            port: port,
            control: control,
            token: token,
            metrics: metrics,
            logger: logger,
            tls: tls
        )
    }

    /// `Containers.DispatchPrivateKey`, parsed; `nil` when it is empty.
    static func configuredKey(_ config: ClusterConfig) throws(DispatcherError) -> NIOSSHPrivateKey? {
        let value = config.containers.dispatchPrivateKey
        guard !value.isEmpty else { return nil }
        do throws(RemoteExecutionError) {
            return try OpenSSHPrivateKey.parse(configurationValue: value.value)
        } catch {
            throw DispatcherError(.configuration, "Containers.DispatchPrivateKey: \(error.message)")
        }
    }

    /// The key to use when `Containers.DispatchPrivateKey` is empty, as the driver's product says: none for
    /// instances that run commands in process, a key kept in the data directory where the driver allows one of
    /// the dispatcher's own (loopback); otherwise the key is required.
    static func fallbackKey(
        _ config: ClusterConfig,
        access: InstanceAccess,
        dataDirectory: String
    ) throws(DispatcherError) -> NIOSSHPrivateKey? {
        switch access {
        case .inProcess:
            return nil
        case .ssh(let ssh) where ssh.allowsGeneratedKey:
            return try LocalKey.loadOrCreate(in: dataDirectory)
        case .ssh:
            throw DispatcherError(
                .configuration,
                "Containers.DispatchPrivateKey is empty: the \(config.containers.cloudVMs.driver) driver needs an SSH key"
            )
        }
    }

    /// The pool's configuration from the cluster's; `deploysRunner: false` (a simulation) deploys nothing.
    package static func poolConfiguration<I: InstanceSet, C: Clock>(
        _ config: ClusterConfig,
        instanceSetID: InstanceSetID,
        publicKey: String?,
        runnerSearchDirectory: String?,
        privateCA: String? = nil,
        deploysRunner: Bool = true,
        for _: WorkerPool<I, C>.Type = WorkerPool<I, C>.self
    ) throws(DispatcherError) -> WorkerPool<I, C>.Configuration {
        let cloudVMs = config.containers.cloudVMs
        var pool = WorkerPool<I, C>.Configuration(
            clusterID: config.clusterID,
            instanceSetID: instanceSetID,
            instanceTypes: config.sortedInstanceTypes
        )
        pool.imageID = cloudVMs.imageID
        pool.tagKeyPrefix = cloudVMs.tagKeyPrefix
        for (key, value) in cloudVMs.resourceTags { pool.resourceTags[key] = value }
        pool.instanceInitCommand = cloudVMs.instanceInitCommand
        pool.publicKey = publicKey
        pool.bootProbeCommand = cloudVMs.bootProbeCommand
        pool.deployRunnerBinary =
            deploysRunner
            ? try Self.runnerBinary(cloudVMs.deployRunnerBinary, searchDirectory: runnerSearchDirectory) : ""

        pool.deployRunnerDirectory = cloudVMs.deployRunnerDirectory
        pool.crunchRunCommand = config.containers.crunchRunCommand
        pool.crunchRunArguments = config.containers.crunchRunArgumentsList
        pool.runtimeEngine = config.containers.runtimeEngine
        pool.syncInterval = cloudVMs.syncInterval
        pool.probeInterval = cloudVMs.probeInterval
        pool.maxProbesPerSecond = cloudVMs.maxProbesPerSecond
        pool.maxConcurrentInstanceCreateOps = cloudVMs.maxConcurrentInstanceCreateOps
        pool.maxInstances = cloudVMs.maxInstances
        pool.timeouts.idle = cloudVMs.timeoutIdle
        pool.timeouts.booting = cloudVMs.timeoutBooting
        pool.timeouts.probe = cloudVMs.timeoutProbe
        pool.timeouts.shutdown = cloudVMs.timeoutShutdown
        pool.timeouts.signal = cloudVMs.timeoutSignal
        pool.timeouts.term = cloudVMs.timeoutTERM
        pool.timeouts.staleRunLock = cloudVMs.timeoutStaleRunLock
        let quarantine = config.dispatchCloud.bootQuarantine
        pool.bootQuarantine.failures = quarantine.failures
        pool.bootQuarantine.window = quarantine.window
        pool.bootQuarantine.cooldown = quarantine.cooldown
        pool.bootQuarantine.maxCooldown = quarantine.maxCooldown
        pool.systemRootToken = config.systemRootToken.value
        let apiURL = try Self.apiURL(config)
        pool.apiHost = Self.runnerAPIHost(apiURL)
        pool.apiScheme = Self.runnerAPIScheme(apiURL)
        pool.apiHostInsecure = config.tls.insecure
        pool.apiHostCA = privateCA
        pool.localKeepBlobBuffersPerVCPU = config.containers.localKeepBlobBuffersPerVCPU
        // As Arvados's runner.go: the cluster goes along only when runners start a local keepstore.
        pool.clusterConfig = config.containers.localKeepBlobBuffersPerVCPU > 0 ? config.arvadosJSON() : nil
        pool.ec2SpotCheck = cloudVMs.driver == "ec2"
        pool.runnerSandbox = try Self.runnerSandbox(config)
        return pool
    }

    /// The scheduling loop's configuration from the cluster's.
    package static func schedulerConfiguration<C: Clock>(
        _ config: ClusterConfig,
        quietAfter503: Duration
    ) -> SchedulingLoop<C>.Configuration {
        let cloudVMs = config.containers.cloudVMs
        var scheduler = SchedulingLoop<C>.Configuration()
        scheduler.planner.maxInstances = cloudVMs.maxInstances
        scheduler.planner.initialQuotaEstimate = cloudVMs.initialQuotaEstimate
        scheduler.planner.supervisorFraction = cloudVMs.supervisorFraction
        scheduler.planner.maxRunningContainersPerInstance = cloudVMs.maxRunningContainersPerInstance
        scheduler.staleLockTimeout = config.containers.staleLockTimeout
        scheduler.planner.quietAfter503 = quietAfter503
        scheduler.planner.maxHourlySpend = config.dispatchCloud.maxHourlySpend
        scheduler.planner.maxSpendPerDay = config.dispatchCloud.maxSpendPerDay
        scheduler.planner.spotFallback = SpotFallback.Configuration(
            hold: config.dispatchCloud.spotFallbackAfter,
            budget: config.dispatchCloud.preemptionBudget
        )
        return scheduler
    }

    /// `DeployRunnerBinary`; its default (`/proc/self/exe`, as in Arvados where one binary is both) names the
    /// `dispatch-runner` installed next to `dispatch-cloud` instead.
    ///
    /// A binary that cannot be read is a configuration error: the pool creates no instance without it, so
    /// every container would wait Queued with nothing in the log.
    static func runnerBinary(_ configured: String, searchDirectory: String?) throws(DispatcherError) -> String {
        guard configured == "/proc/self/exe" else {
            var isDirectory: ObjCBool = false
            guard
                configured.isEmpty
                    || (FileManager.default.fileExists(atPath: configured, isDirectory: &isDirectory)
                        && !isDirectory.boolValue && FileManager.default.isReadableFile(atPath: configured))
            else {
                throw DispatcherError(
                    .configuration,
                    "Containers.CloudVMs.DeployRunnerBinary is \(configured), which is not a readable file: "
                        + "no instance can be created without the runner to deploy; install dispatch-runner there, "
                        + "or leave DeployRunnerBinary out to use the one next to dispatch-cloud"
                )
            }
            return configured
        }
        let directory =
            searchDirectory
            ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
        let sibling = directory + "/dispatch-runner"
        guard FileManager.default.isExecutableFile(atPath: sibling) else {
            throw DispatcherError(
                .configuration,
                "Containers.CloudVMs.DeployRunnerBinary is the default and \(sibling) does not exist: "
                    + "build dispatch-runner (swift build --product dispatch-runner) or set DeployRunnerBinary"
            )
        }
        return sibling
    }

    /// The API the queue and the runners call: `Services.Controller.ExternalURL`.
    static func apiURL(_ config: ClusterConfig) throws(DispatcherError) -> URL {
        let external = config.services.controller.externalURL
        guard !external.isEmpty, let url = URL(string: external), url.scheme != nil, url.host != nil else {
            throw DispatcherError(
                .configuration,
                "Services.Controller.ExternalURL must be an http(s) URL (got \"\(URLCredentials.displayed(external))\")"
            )
        }
        return url
    }

    /// Where the management API listens: the first of `Services.DispatchCloud.InternalURLs`.
    static func managementListenAddress(
        _ config: ClusterConfig
    ) throws(DispatcherError) -> (host: String, port: Int, https: Bool)? {
        guard let first = config.services.dispatchCloud.internalURLs.sorted().first else { return nil }
        let listen = first.effectiveListenURL
        guard let url = URL(string: listen), let host = url.host else {
            throw DispatcherError(
                .configuration,
                "Services.DispatchCloud.InternalURLs: \"\(URLCredentials.displayed(listen))\" is not a URL"
            )
        }
        let https = url.scheme == "https"
        return (host, url.port ?? (https ? 443 : 80), https)
    }

    /// The embedded container API, listening on the first of `Services.Controller.InternalURLs` (else the
    /// ExternalURL's port on 127.0.0.1).
    static func containerAPI(
        _ config: ClusterConfig,
        tls: ServerIdentity?,
        logger: Logger
    ) throws(DispatcherError) -> ContainerAPIServer {
        let listen =
            config.services.controller.internalURLs.sorted().first?.effectiveListenURL
            ?? config.services.controller.externalURL
        guard let url = URL(string: listen), let host = url.host else {
            throw DispatcherError(
                .configuration,
                "Services.Controller.InternalURLs: \"\(URLCredentials.displayed(listen))\" is not a URL"
            )
        }
        var configuration = ContainerAPIServer.Configuration(
            clusterID: config.clusterID,
            dataDirectory: config.dispatchCloud.dataDirectory,
            systemRootToken: config.systemRootToken.value
        )
        configuration.host = host
        configuration.port = url.port ?? (url.scheme == "https" ? 443 : 80)
        configuration.submitterTokens = config.dispatchCloud.submitterTokens.map(\.value)
        configuration.maxDispatchAttempts = config.containers.maxDispatchAttempts
        configuration.externalURL = config.services.controller.externalURL
        configuration.tls = url.scheme == "https" ? tls : nil
        // This dispatcher is the only one behind its own API: refuse at create what it could never run.
        configuration.admission = config.instanceTypeChooser
        var apiLogger = logger
        apiLogger[metadataKey: "component"] = "container-api"
        do throws(ContainerAPIError) {
            return try ContainerAPIServer(configuration: configuration, logger: apiLogger)
        } catch {
            throw DispatcherError(.dataDirectory, "cannot open the container database: \(error)")
        }
    }
}

/// Hands the queue every container change the embedded API commits, so new containers and runners' updates
/// are seen at once, without a poll.
struct PushUpdates: Service {
    let changes: ChangeFeed.Subscription
    let queue: ContainerQueue<ContinuousClock>

    func run() async throws {
        let changes = self.changes
        defer { changes.cancel() }
        await cancelWhenGracefulShutdown {
            while let batch = await changes.next(wallClock: self.queue.wallClock) {
                await self.queue.applyPushed(batch.containers, complete: batch.complete)
            }
        }
    }
}

/// A service that starts once the embedded API listens (so the queue's first poll finds it).
struct AfterAPI: Service {
    let api: ContainerAPIServer?
    let service: any Service

    func run() async throws {
        if let api = self.api { _ = try await api.listeningPort() }
        try await self.service.run()
    }
}

/// The driver's own background loop (the simulated cloud's clock), as a service.
struct DriverService: Service {
    let body: @Sendable () async throws -> Void

    func run() async throws {
        try await cancelWhenGracefulShutdown { try await self.body() }
    }
}

/// An executor for instances that cannot be reached: every command fails, so the worker times out.
struct UnreachableExecutor: RemoteExecutor {
    let reason: String

    func execute(environment: [String: String], command: String, stdin: [UInt8]) async throws -> CommandResult {
        throw RemoteExecutionError(code: .connectFailed, message: self.reason)
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        self.hasSuffix(suffix) ? String(self.dropLast(suffix.count)) : self
    }
}
