public import AsyncHTTPClient
public import CloudDriver
public import CoreMetrics
public import DispatchModel
public import Logging

/// The instances of one dispatcher in one EC2 region (the `ec2` driver, reference §6.2).
///
/// - `create` calls `RunInstances` with the tags on the instance and its volumes, the init command as user
///   data, IMDSv2 required, the dispatcher's key pair (imported once, named after its fingerprint), an
///   `AddedScratch` volume, a spot request for preemptible types, and the configured security groups and
///   instance profile. With several subnets it starts at the one that last worked and moves on to the next
///   when an error is specific to a subnet.
/// - `instances(tagged:)` calls `DescribeInstances` filtered by the tags, page by page, and leaves out
///   instances that are shutting down or terminated. When spot instances are listed it refreshes their spot
///   price history (`DescribeSpotPriceHistory`) at most once per `SpotPriceUpdateInterval`.
/// - Errors become `CloudError`s as ``EC2ErrorMapping`` describes; while EC2 throttles creates or lists, each
///   error says how long to wait (1 s growing to 1 min).
/// - Metrics: `arvados_dispatchcloud_ec2_instances{subnet_id}` (instances listed per subnet) and
///   `arvados_dispatchcloud_ec2_instance_starts_total{subnet_id,success}` (`RunInstances` attempts).
///
/// Time (spot-price staleness) comes from the clock `C`.
public actor EC2InstanceSet<C: Clock>: InstanceSet where C.Duration == Duration {
    public typealias Instance = EC2Instance<C>

    /// Knobs that are not configuration: for tests and tools.
    public struct Options: Sendable {
        /// `MaxResults` of each `DescribeInstances` page (5…1000), or `nil` to let EC2 choose.
        public var describePageSize: Int?
        /// How long one API call may take.
        public var requestTimeout: Duration = .seconds(60)

        public init() {}
    }

    /// The configuration.
    public nonisolated let parameters: EC2Parameters
    /// Where requests go.
    public nonisolated let endpoint: EC2Endpoint
    /// Whether the endpoint is on this host, so instance addresses are not real and only loopback addresses
    /// may be dialled (see ``EC2Instance/dialsLoopbackOnly``).
    public nonisolated var dialsLoopbackOnly: Bool { self.endpoint.isLoopback }

    let client: EC2Client
    private let options: Options
    private let clock: C
    private let logger: Logger
    private let metricsFactory: any MetricsFactory

    /// Key-pair names by the fingerprint of the public key.
    var keyNames: [String: String] = [:]
    /// The subnet to try first.
    private var subnetIndex = 0
    private var createBackoff = ThrottleBackoff()
    private var listBackoff = ThrottleBackoff()
    private var otherBackoff = ThrottleBackoff()
    private(set) var spotPrices = SpotPriceBook<C.Instant>()
    private var instanceGauges: [String: Gauge] = [:]
    private let startCounters: [String: (succeeded: Counter, failed: Counter)]

    /// Creates an instance set that signs with `credentials`; nothing is called until the first operation.
    public init(
        parameters: EC2Parameters,
        credentials: AWSCredentials,
        options: Options = .init(),
        httpClient: HTTPClient = .shared,
        clock: C,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.parameters = parameters
        self.endpoint = parameters.resolvedEndpoint
        self.options = options
        self.clock = clock
        self.logger = logger
        self.metricsFactory = metricsFactory
        self.client = EC2Client(
            endpoint: self.endpoint,
            signer: SigV4Signer(credentials: credentials, region: parameters.region, service: "ec2"),
            httpClient: httpClient,
            timeout: options.requestTimeout,
            logger: logger
        )
        var counters: [String: (succeeded: Counter, failed: Counter)] = [:]
        for subnet in parameters.subnetIDs.isEmpty ? [""] : parameters.subnetIDs {
            func counter(_ success: String) -> Counter {
                let counter = Counter(
                    label: EC2MetricName.instanceStarts,
                    dimensions: [("subnet_id", subnet), ("success", success)],
                    factory: metricsFactory
                )
                counter.increment(by: 0)
                return counter
            }
            counters[subnet] = (counter("1"), counter("0"))
        }
        self.startCounters = counters
    }

    // MARK: InstanceSet

    public func create(
        type: InstanceType,
        imageID: ImageID,
        tags: InstanceTags,
        initCommand: String,
        publicKey: String?
    ) async throws(CloudError) -> Instance {
        var keyName: String?
        if let publicKey { keyName = try await self.keyName(for: publicKey) }
        let request = RunInstancesRequest(
            type: type,
            imageID: imageID,
            tags: tags,
            initCommand: initCommand,
            keyName: keyName,
            parameters: self.parameters
        )
        let subnets = self.parameters.subnetIDs
        let first = self.subnetIndex
        var failure: EC2APIError?
        var attempt = 0
        attempts: while true {
            let index = subnets.isEmpty ? 0 : (first + attempt) % subnets.count
            let subnet = subnets.isEmpty ? nil : subnets[index]
            let outcome: Result<XMLTree, EC2APIError>
            do throws(EC2APIError) {
                outcome = .success(try await self.client.call("RunInstances", request.parameters(subnetID: subnet)))
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .success(let reply):
                self.recordStart(subnet: subnet ?? "", succeeded: true)
                self.subnetIndex = index
                self.createBackoff.reset()
                guard let item = reply.items("instancesSet").first, let instance = self.instance(from: item) else {
                    throw .other("RunInstances answered without an instance")
                }
                self.logger.debug(
                    "Created an EC2 instance",
                    metadata: ["instance.id": "\(instance.id)", "ec2.subnetID": "\(subnet ?? "")"]
                )
                return instance
            case .failure(let error):
                self.recordStart(subnet: subnet ?? "", succeeded: false)
                // Report the last capacity error if there was one, else the last error.
                if failure.map({ $0.kind != .insufficientCapacity }) ?? true || error.kind == .insufficientCapacity {
                    failure = error
                }
                if EC2ErrorMapping.isSubnetSpecific(error), attempt < subnets.count - 1 {
                    self.logger.warning(
                        "RunInstances failed, trying the next subnet",
                        metadata: ["ec2.subnetID": "\(subnet ?? "")", "ec2.error": "\(error)"]
                    )
                    attempt += 1
                    continue attempts
                }
                // Remember where this ended even on failure, so the next create reveals the other
                // subnets' errors instead of repeating this one's.
                self.subnetIndex = index
                break attempts
            }
        }
        let error = failure ?? .transport("RunInstances was not attempted")
        throw EC2ErrorMapping.cloudError(
            error,
            operation: "RunInstances",
            type: type,
            quotaGroup: self.parameters.quotaGroup(for: type),
            retryAfter: self.backoff(&self.createBackoff, after: error)
        )
    }

    public func instances(tagged tags: InstanceTags) async throws(CloudError) -> [Instance] {
        var filters: [(String, String)] = []
        for (number, (key, value)) in tags.sorted(by: { $0.key < $1.key }).enumerated() {
            filters.append(("Filter.\(number + 1).Name", "tag:\(key)"))
            filters.append(("Filter.\(number + 1).Value.1", value))
        }
        if let size = self.options.describePageSize { filters.append(("MaxResults", String(size))) }
        var items: [XMLTree] = []
        var nextToken: String?
        repeat {
            let page: XMLTree
            do throws(EC2APIError) {
                page = try await self.client.call(
                    "DescribeInstances",
                    filters + (nextToken.map { [("NextToken", $0)] } ?? [])
                )
            } catch {
                throw EC2ErrorMapping.cloudError(
                    error,
                    operation: "DescribeInstances",
                    retryAfter: self.backoff(&self.listBackoff, after: error)
                )
            }
            for reservation in page.items("reservationSet") {
                items += reservation.items("instancesSet")
            }
            nextToken = page.text(at: "nextToken").flatMap { $0.isEmpty ? nil : $0 }
        } while nextToken != nil
        self.listBackoff.reset()

        let listed = items.filter { item in
            let state = item.text(at: "instanceState/name") ?? ""
            return state != "shutting-down" && state != "terminated"
        }
        let spot = listed.filter { $0.text(at: "instanceLifecycle") == "spot" }
        if !spot.isEmpty, self.parameters.spotPriceUpdateInterval > .zero {
            await self.updateSpotPrices(for: spot)
        }
        let instances = listed.compactMap { self.instance(from: $0) }
        self.reportInstancesPerSubnet(instances)
        return instances
    }

    public nonisolated func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup {
        self.parameters.quotaGroup(for: type)
    }

    public func stop() async {}

    // MARK: Instances

    func setTags(_ tags: InstanceTags, on id: InstanceID) async throws(CloudError) {
        var parameters = [("ResourceId.1", id.rawValue)]
        for (number, (key, value)) in tags.sorted(by: { $0.key < $1.key }).enumerated() {
            parameters.append(("Tag.\(number + 1).Key", key))
            parameters.append(("Tag.\(number + 1).Value", value))
        }
        do throws(EC2APIError) {
            _ = try await self.client.call("CreateTags", parameters)
            self.otherBackoff.reset()
        } catch {
            throw EC2ErrorMapping.cloudError(
                error,
                operation: "CreateTags \(id)",
                retryAfter: self.backoff(&self.otherBackoff, after: error)
            )
        }
    }

    func terminate(_ id: InstanceID) async throws(CloudError) {
        do throws(EC2APIError) {
            _ = try await self.client.call("TerminateInstances", [("InstanceId.1", id.rawValue)])
            self.otherBackoff.reset()
        } catch {
            throw EC2ErrorMapping.cloudError(
                error,
                operation: "TerminateInstances \(id)",
                retryAfter: self.backoff(&self.otherBackoff, after: error)
            )
        }
    }

    /// The instance an `instancesSet` item describes, or `nil` if it has no ID.
    private func instance(from item: XMLTree) -> Instance? {
        guard let id = item.text(at: "instanceId"), !id.isEmpty else { return nil }
        var tags: InstanceTags = [:]
        for tag in item.items("tagSet") {
            guard let key = tag.text(at: "key") else { continue }
            tags[key] = tag.text(at: "value") ?? ""
        }
        let providerType = item.text(at: "instanceType") ?? ""
        let zone = item.text(at: "placement/availabilityZone") ?? ""
        let isSpot = item.text(at: "instanceLifecycle") == "spot"
        return EC2Instance(
            instanceSet: self,
            id: InstanceID(rawValue: id),
            address: item.text(at: "privateIpAddress") ?? "",
            remoteUser: self.parameters.adminUsername,
            providerType: providerType,
            tags: tags,
            state: item.text(at: "instanceState/name") ?? "",
            subnetID: item.text(at: "subnetId") ?? "",
            availabilityZone: zone,
            isSpot: isSpot,
            dialsLoopbackOnly: self.dialsLoopbackOnly,
            spotPrices: isSpot ? self.spotPrices.history(providerType: providerType, zone: zone) : [],
            ebsPrice: self.parameters.ebsPrice
        )
    }

    // MARK: Helpers for the extensions

    var clockNow: C.Instant { self.clock.now }

    func recordSpotPrices(
        _ prices: [(SpotPriceBook<C.Instant>.Key, InstancePrice)],
        at now: C.Instant,
        expiredBefore: C.Instant
    ) {
        self.spotPrices.add(prices, at: now)
        self.spotPrices.normalize(expiredBefore: expiredBefore)
    }

    func warn(_ message: Logger.Message, error: EC2APIError) {
        self.logger.warning(message, metadata: ["ec2.error": "\(error)"])
    }

    // MARK: Throttling and metrics

    /// Updates `backoff` for `error` and returns the delay to report (zero unless throttled).
    private func backoff(_ backoff: inout ThrottleBackoff, after error: EC2APIError) -> Duration {
        guard error.kind == .throttled else {
            backoff.reset()
            return .zero
        }
        return backoff.throttled()
    }

    private func recordStart(subnet: String, succeeded: Bool) {
        if let counters = self.startCounters[subnet] {
            (succeeded ? counters.succeeded : counters.failed).increment()
        } else {
            Counter(
                label: EC2MetricName.instanceStarts,
                dimensions: [("subnet_id", subnet), ("success", succeeded ? "1" : "0")],
                factory: self.metricsFactory
            ).increment()
        }
    }

    private func reportInstancesPerSubnet(_ instances: [Instance]) {
        var counts: [String: Int] = ["": 0]
        for subnet in self.parameters.subnetIDs { counts[subnet] = 0 }
        for subnet in self.instanceGauges.keys { counts[subnet] = 0 }
        for instance in instances { counts[instance.subnetID, default: 0] += 1 }
        for (subnet, count) in counts {
            let gauge =
                self.instanceGauges[subnet]
                ?? Gauge(
                    label: EC2MetricName.instances,
                    dimensions: [("subnet_id", subnet)],
                    factory: self.metricsFactory
                )
            self.instanceGauges[subnet] = gauge
            gauge.record(count)
        }
    }
}

extension EC2InstanceSet where C == ContinuousClock {
    /// Creates an instance set on the real clock.
    public init(
        parameters: EC2Parameters,
        credentials: AWSCredentials,
        options: Options = .init(),
        logger: Logger
    ) {
        self.init(
            parameters: parameters,
            credentials: credentials,
            options: options,
            clock: .continuous,
            logger: logger
        )
    }
}

/// The EC2 driver's metric names, with Arvados's namespace and subsystem (reference §5.4).
public enum EC2MetricName: Sendable {
    /// Gauge `{subnet_id}`: the instances listed in each subnet.
    public static let instances = "arvados_dispatchcloud_ec2_instances"
    /// Counter `{subnet_id, success}`: `RunInstances` attempts, `success` `1` or `0`.
    public static let instanceStarts = "arvados_dispatchcloud_ec2_instance_starts_total"
}
