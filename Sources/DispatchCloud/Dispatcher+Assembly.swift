import ArvadosAPI
import CloudDriver
import ContainerQueue
import DecisionJournal
import DispatchConfig
import DispatchModel
import Logging
import ManagementAPI
import Metrics
import NIOSSH
import RemoteExecution
import SSHExecutor
import Scheduler
import ServiceLifecycle
public import WorkerPool

/// The worker pool as code outside the assembly sees it (the demo's progress, tests): its instances and its
/// changes. The pool's own type depends on the driver's instance set, which only the assembly knows.
public struct DispatcherPool: Sendable {
    /// Every worker and pending create (``WorkerPool/instances()``).
    public let instances: @Sendable () async -> [InstanceView]
    /// A stream that yields after each change of the pool (``WorkerPool/subscribe()``).
    public let subscribe: @Sendable () async -> AsyncStream<Void>

    init<Instances: InstanceSet>(_ pool: WorkerPool<Instances, ContinuousClock>) {
        self.instances = { await pool.instances() }
        self.subscribe = { await pool.subscribe() }
    }
}

extension Dispatcher {
    /// What the pool's part of the assembly needs from the rest.
    struct Parts {
        var config: ClusterConfig
        var instanceSetID: InstanceSetID
        var runnerSearchDirectory: String?
        var privateCA: String?
        var metricsFactory: any MetricsFactory
        var quietAfter503: Duration
        var journal: JournalSink
        var queue: ContainerQueue<ContinuousClock>
        var apiTransport: PoliteTransport<ContinuousClock>
        var costRecorder: CostRecorder
        var logger: Logger
    }

    /// The pool and what depends on its type, built by ``assemble(_:access:privateKey:parts:)``.
    struct Assembly {
        var pool: DispatcherPool
        var scheduler: SchedulingLoop<ContinuousClock>
        /// The pool and its companions (preemption counts, spend and cost accounting), in start order.
        var poolServices: [any Service]
        /// The management API's view of the running dispatcher.
        var control: @Sendable (DecisionJournal, JournalStore) -> any DispatcherControl
    }

    /// Opens the driver's instance set, once: the pool over it behind the decorators of reference §1.4, with
    /// an executor per instance as the driver's `access` says, and everything that holds the pool.
    static func assemble<Driven: InstanceSet>(
        _ instanceSet: Driven,
        access: InstanceAccess,
        privateKey: NIOSSHPrivateKey?,
        parts: Parts
    ) throws(DispatcherError) -> Assembly {
        let config = parts.config
        let cloudVMs = config.containers.cloudVMs
        var resourceTags = InstanceTags()
        for (key, value) in cloudVMs.resourceTags { resourceTags[key] = value }
        let instances = instanceSet.decorated(
            maxCloudOpsPerSecond: cloudVMs.maxCloudOpsPerSecond,
            resourceTags: resourceTags,
            clock: ContinuousClock(),
            metricsFactory: parts.metricsFactory,
            logger: parts.logger
        )
        typealias Pool = WorkerPool<DecoratedInstanceSet<Driven, ContinuousClock>, ContinuousClock>
        let poolConfiguration: Pool.Configuration = try Self.poolConfiguration(
            config,
            instanceSetID: parts.instanceSetID,
            publicKey: cloudVMs.deployPublicKey
                ? privateKey.map { OpenSSHPrivateKey.authorizedKeysLine(for: $0) } : nil,
            runnerSearchDirectory: parts.runnerSearchDirectory,
            privateCA: parts.privateCA
        )
        let makeExecutor = Self.executorFactory(
            for: Pool.Instance.self,
            access: access,
            secretTag: poolConfiguration.tagKey(.instanceSecret),
            privateKey: privateKey,
            port: Int(cloudVMs.sshPort) ?? 22
        )
        var poolLogger = parts.logger
        poolLogger[metadataKey: "component"] = "pool"
        let pool = Pool(
            configuration: poolConfiguration,
            instanceSet: instances,
            clock: ContinuousClock(),
            logger: poolLogger,
            makeExecutor: makeExecutor,
            metricsFactory: parts.metricsFactory,
            journal: parts.journal
        )

        // The daily cap needs what was spent, kept in the data directory across restarts.
        let dataDirectory = config.dispatchCloud.dataDirectory
        let accountant =
            config.dispatchCloud.maxSpendPerDay > 0
            ? SpendAccountant(directory: dataDirectory, logger: parts.logger) : nil
        var schedulerLogger = parts.logger
        schedulerLogger[metadataKey: "component"] = "scheduler"
        let scheduler = SchedulingLoop(
            queue: QueueForScheduling(queue: parts.queue, transport: parts.apiTransport),
            pool: PoolForScheduling(
                pool: pool,
                accountant: accountant,
                countsPreemptions: config.dispatchCloud.preemptionBudget > 0
            ),
            clock: ContinuousClock(),
            configuration: Self.schedulerConfiguration(config, quietAfter503: parts.quietAfter503),
            logger: schedulerLogger,
            metricsFactory: parts.metricsFactory,
            journal: parts.journal
        )

        var services: [any Service] = [
            pool,
            PreemptionPersistence(
                record: PreemptionRecord(directory: dataDirectory),
                logger: parts.logger,
                restore: { await pool.restorePreemptions($0) },
                counts: { await pool.preemptionCounts() }
            ),
        ]
        if let accountant {
            services.append(SpendAccounting(accountant: accountant, hourlySpend: { await pool.billedHourlySpend() }))
        }
        let queue = parts.queue
        let costRecorder = parts.costRecorder
        services.append(
            CostAccounting(
                recorder: costRecorder,
                instances: { await Self.costSample(pool: pool, queue: queue) }
            )
        )
        return Assembly(
            pool: DispatcherPool(pool),
            scheduler: scheduler,
            poolServices: services,
            control: { journal, journalStore in
                DispatcherManagement(
                    pool: pool,
                    queue: queue,
                    scheduler: scheduler,
                    journal: journal,
                    journalStore: journalStore,
                    costRecorder: costRecorder
                )
            }
        )
    }

    /// How the pool makes each worker's executor, as the driver's `access` says: the driver's own in-process
    /// executor; SSH with the dispatcher's key, dialling only what the driver's dial policy allows; or, with
    /// no key, one that refuses every command.
    static func executorFactory<Instance: CloudInstance>(
        for _: Instance.Type,
        access: InstanceAccess,
        secretTag: String,
        privateKey: NIOSSHPrivateKey?,
        port: Int
    ) -> @Sendable (InstanceListing<Instance>) -> any RemoteExecutor {
        switch access {
        case .inProcess(let executor):
            return { listing in executor(listing.id) }
        case .ssh(let ssh):
            guard let privateKey else {
                return { _ in UnreachableExecutor(reason: "no SSH key is configured") }
            }
            return { listing in
                Self.sshExecutor(
                    listing,
                    secretTag: secretTag,
                    privateKey: privateKey,
                    dialPolicy: ssh.dialPolicy,
                    port: port
                )
            }
        }
    }
}
