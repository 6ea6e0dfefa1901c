import ArvadosAPI
import CloudDriver
import CloudDriverEC2
import CloudDriverLoopback
import CloudDriverSimulated
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import RemoteExecution
import SSHExecutor
import SimulatedRunner
import Testing
import WorkerPool

@testable import DispatchCloud

/// The assembled daemon over real parts: the embedded API, the loopback driver's SSH servers, real
/// `dispatch-runner` processes.
@Suite("Standalone end to end", .serialized)
struct StandaloneEndToEndTests {
    static let drivers = DriverRegistry([.loopback, .simulated])

    static func dispatcher(_ cluster: StandaloneCluster) throws -> Dispatcher {
        let config = try ClusterConfig.load(yaml: cluster.yaml, sourceName: "test").config
        var logger = Logger(label: "e2e")
        logger.logLevel = .warning
        return try Dispatcher(
            config: config,
            drivers: Self.drivers,
            logger: logger,
            runnerSearchDirectory: ProcessRunner.productsDirectory.path
        )
    }

    /// What container `index` of the mixed batch runs and must end with.
    struct Job {
        var index: Int
        var vcpus: Int
        var ramMiB: Int
        var exitCode: Int
        var command: [String] { ["sh", "-c", "echo output-of-\(self.index); exit \(self.exitCode)"] }

        init(_ index: Int) {
            self.index = index
            self.vcpus = [1, 1, 2, 4][index % 4]
            self.ramMiB = [128, 256, 512, 1024][index % 4]
            self.exitCode = index % 7 == 3 ? index % 5 + 1 : 0
        }
    }

    static func submit(_ client: ArvadosClient, _ job: Job) async throws -> ContainerUUID {
        try await client.createContainer([
            "command": .array(job.command.map(JSONValue.string)),
            "container_image": .string("test-image"),
            "output_path": .string("/tmp"),
            "cwd": .string("/tmp"),
            "priority": .int(Int64(100 + job.index)),
            "runtime_constraints": .object([
                "vcpus": .int(Int64(job.vcpus)),
                "ram": .int(Int64(job.ramMiB) << 20),
            ]),
        ]).uuid
    }

    static func stdout(_ client: ArvadosClient, _ uuid: ContainerUUID) async throws -> String {
        let page = try await client.logs(
            filters: [
                ArvadosFilter("object_uuid", "=", .string(uuid.rawValue)),
                ArvadosFilter("event_type", "=", .string("stdout")),
            ],
            limit: 1000
        )
        return page.items.compactMap(\.text).joined()
    }

    @Test(
        "50 containers of mixed sizes and exit codes finalize with their exit codes and logs; idle instances then shut down"
    )
    func fiftyMixedContainers() async throws {
        let directory = try TemporaryDirectory(prefix: "e2e-loopback")
        defer { directory.remove() }
        let cluster = StandaloneCluster(dataDirectory: directory.path, apiPort: try LoopbackPort.free())
        let dispatcher = try Self.dispatcher(cluster)
        let service = Task { try await dispatcher.run(signals: false) }
        defer { service.cancel() }
        let client = ArvadosClient(baseURL: URL(string: cluster.apiURL)!, token: cluster.submitterToken)
        let ready = await eventually { try? await client.currentAuthorization() }
        try #require(ready != nil, "the embedded API did not start")

        let jobs = (0..<50).map(Job.init)
        var uuids: [ContainerUUID] = []
        for job in jobs { uuids.append(try await Self.submit(client, job)) }

        let finished = try await eventually(timeout: .seconds(240), interval: .milliseconds(250)) {
            () async throws -> [Container]? in
            let page = try await client.containers(
                filters: [ArvadosFilter("uuid", "in", .array(uuids.map { .string($0.rawValue) }))],
                limit: 1000
            )
            return page.items.allSatisfy(\.state.isFinal) && page.items.count == uuids.count ? page.items : nil
        }
        let containers = try #require(finished, "not every container finished in time")
        let byUUID = Dictionary(uniqueKeysWithValues: containers.map { ($0.uuid, $0) })
        for (job, uuid) in zip(jobs, uuids) {
            let container = try #require(byUUID[uuid])
            #expect(container.state == .complete, "container \(job.index): \(container.runtimeStatus)")
            #expect(container.exitCode == job.exitCode, "container \(job.index)")
            let output = try #require(
                await eventually { () async throws -> String? in
                    let text = try await Self.stdout(client, uuid)
                    return text.contains("output-of-\(job.index)\n") ? text : nil
                },
                "container \(job.index)'s stdout never reached the logs"
            )
            // Exactly once: a second run would have logged its output again.
            #expect(output == "output-of-\(job.index)\n")
        }

        let drained = await eventually(timeout: .seconds(60), interval: .milliseconds(250)) { () async -> Bool? in
            await dispatcher.pool.instances().isEmpty ? true : nil
        }
        #expect(drained == true, "idle instances were not shut down after TimeoutIdle")
        await dispatcher.shutdown()
        _ = await service.result
    }

    @Test("A second dispatcher on the same data directory refuses to start, naming the holder")
    func dataDirectoryLock() async throws {
        let directory = try TemporaryDirectory(prefix: "e2e-lock")
        defer { directory.remove() }
        let cluster = StandaloneCluster(dataDirectory: directory.path, apiPort: try LoopbackPort.free())
        let first = try Self.dispatcher(cluster)
        let error = #expect(throws: DispatcherError.self) { try Self.dispatcher(cluster) }
        #expect(error?.code == .alreadyRunning)
        #expect(error?.message.contains("pid \(getpid())") == true)
        #expect(error?.message.contains(directory.path) == true)
        _ = first
    }

    @Test("The instance-set ID is the UUID of a v2 token, else the MD5 of the token")
    func instanceSetID() {
        #expect(
            Dispatcher.instanceSetID(token: "v2/zzzzz-gj3su-aaaaaaaaaaaaaaa/secret") == "zzzzz-gj3su-aaaaaaaaaaaaaaa"
        )
        #expect(Dispatcher.instanceSetID(token: "abc") == "900150983cd24fb0d6963f7d28e17f72")
    }
}

@Suite("Dial policy")
struct DialPolicyTests {
    @Test(
        "Only EC2 at a real endpoint may dial non-loopback addresses",
        arguments: [
            ("loopback", JSONValue.object([:]), true),
            ("simulated", .object([:]), true),
            ("ec2", .object([:]), false),
            ("ec2", .object(["Endpoint": .string("https://ec2.eu-west-1.amazonaws.com")]), false),
            ("ec2", .object(["Endpoint": .string("http://127.0.0.1:5000")]), true),
            ("ec2", .object(["Endpoint": .string("http://localhost:5000")]), true),
            ("ec2", .object(["Endpoint": .string("http://[::1]:5000")]), true),
            ("ec2", .object(["Endpoint": .string("http://LOCALHOST:5000")]), true),
            ("ec2", .object(["Endpoint": .string("http://127.0.0.1.nip.io:5000")]), true),
            ("ec2", .object(["EndpointURL": .string("http://127.0.0.1:5000")]), true),
            ("something-else", .object([:]), true),
        ]
    )
    func policy(driver: String, parameters: JSONValue, loopbackOnly: Bool) async throws {
        // The policy is the driver's own statement, read from its product as the assembly reads it.
        let directory = try TemporaryDirectory()
        let unspecified = Driver(name: "something-else") { context in
            Driver.Product(
                instanceSet: SimulatedCloud(parameters: .init(), clock: ManualClock(), logger: context.logger)
            )
        }
        var members: [String: JSONValue] = [:]
        if case .object(let given) = parameters { members = given }
        if driver == "ec2" {
            members["Region"] = .string("us-east-1")
            members["AccessKeyID"] = .string("AKIDEXAMPLE")
            members["SecretAccessKey"] = .string("secret")
        }
        let product = try DriverRegistry([.ec2, .loopback, .simulated, unspecified]).makeInstanceSet(
            driver: driver,
            context: Driver.Context(
                parameters: .object(members),
                clusterID: "zzzzz",
                logger: Logger(label: "test"),
                dataDirectory: directory.path
            )
        )
        #expect(product.access.dialPolicy.loopbackOnly == loopbackOnly)
        await product.instanceSet.stop()
    }
}
