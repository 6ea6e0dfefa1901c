// `swift run -c release dispatch-benchmark [latency|throughput|all]`: the standalone stack's speed on this
// machine — warm dispatch latency and container throughput over the loopback driver.
//
// latency: one idle loopback instance; 200 containers one after another, each `date +%s%N`; the latency of
// one is the time from just before its create call to the instant its process printed (its process start).
// throughput: 1,000 `true` containers at once on one instance type with 16 slots (16 VCPUs, 1 VCPU each),
// from the first create to the last Complete.

import ArvadosAPI
import CloudDriver
import CloudDriverLoopback
import DispatchCloud
import DispatchConfig
import DispatchModel
import Foundation
import Logging
import TLSSupport
import WorkerPool

#if canImport(Glibc)
import Glibc
#endif

struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
}

func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// CPU time used so far, in seconds: by this process (dispatcher, API, loopback SSH servers) and by the
/// whole machine (this process, runners, containers, anything else), from `/proc`.
struct CPUTimes {
    var process: Double
    var machine: Double

    static func now() -> CPUTimes {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        func fields(_ path: String) -> [Substring] {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(
                separator: " ",
                omittingEmptySubsequences: true
            )
        }
        // /proc/self/stat: utime and stime are fields 14 and 15 (after the command, which has no spaces here).
        let own = fields("/proc/self/stat")
        let process = own.count > 15 ? (Double(own[13]) ?? 0) + (Double(own[14]) ?? 0) : 0
        // /proc/stat's first line: cpu user nice system idle iowait irq softirq steal …
        let all = fields("/proc/stat")
        let busy = [1, 2, 3, 6, 7, 8].reduce(0.0) {
            $0 + (all.count > $1 ? Double(all[$1].trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 : 0)
        }
        return CPUTimes(process: process / ticks, machine: busy / ticks)
    }

    static func - (lhs: CPUTimes, rhs: CPUTimes) -> CPUTimes {
        CPUTimes(process: lhs.process - rhs.process, machine: lhs.machine - rhs.machine)
    }
}

/// A standalone stack in a temporary directory, with the defaults of `examples/standalone.yml` except the
/// instance types given.
struct Stack {
    let dispatcher: Dispatcher
    let client: ArvadosClient
    let directory: String
    let service: Task<Void, any Error>

    static func start(instanceTypes: String, maxInstances: Int) async throws -> Stack {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dispatch-benchmark-\(getpid())")
            .path
        try? FileManager.default.removeItem(atPath: directory)
        let port = try freePort()
        // The process engine's sandbox: bwrap (the default), auto or none (to measure what it costs).
        let sandboxMode = ProcessInfo.processInfo.environment["DISPATCH_BENCHMARK_SANDBOX"] ?? "bwrap"
        // DISPATCH_BENCHMARK_SCHEME=https: both the dispatcher and its runners over TLS with a private CA.
        let scheme = ProcessInfo.processInfo.environment["DISPATCH_BENCHMARK_SCHEME"] ?? "http"
        var cluster = StandaloneConfiguration(dataDirectory: directory, apiPort: port, rootToken: "bench-root-token")
        cluster.clusterID = "bench"
        cluster.scheme = scheme
        cluster.driverParameters = "{MaxInstances: \(maxInstances)}"
        cluster.imageID = "loopback"
        cluster.maxInstances = maxInstances
        cluster.probeInterval = "1s"
        cluster.syncInterval = "5s"
        cluster.timeoutIdle = "10m"
        (cluster.staleLockTimeout, cluster.timeoutBooting, cluster.timeoutProbe) = (nil, nil, nil)
        (cluster.timeoutShutdown, cluster.timeoutSignal, cluster.timeoutTERM) = (nil, nil, nil)
        cluster.instanceTypesYAML = instanceTypes
        cluster.processSandboxMode = sandboxMode
        var caPEM: String?
        if scheme == "https" {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let generated = try PrivateCA.generate(hosts: ["127.0.0.1"])
            try PEMFiles.writePrivate(
                generated.serverCertificatePEM + generated.caCertificatePEM,
                to: directory + "/cert.pem"
            )
            try PEMFiles.writePrivate(generated.serverKeyPEM, to: directory + "/key.pem")
            cluster.tlsCertificate = "file://\(directory)/cert.pem"
            cluster.tlsKey = "file://\(directory)/key.pem"
            caPEM = generated.caCertificatePEM
        }
        let yaml = cluster.yaml
        let config = try ClusterConfig.load(yaml: yaml, sourceName: "benchmark").config
        var logger = Logger(label: "dispatch-benchmark")
        logger.logLevel =
            ProcessInfo.processInfo.environment["DISPATCH_BENCHMARK_LOG"].flatMap { Logger.Level(rawValue: $0) }
            ?? .error
        // DISPATCH_BENCHMARK_JOURNAL=off: no decision journal sink (the before/after comparison).
        let journal = ProcessInfo.processInfo.environment["DISPATCH_BENCHMARK_JOURNAL"] != "off"
        let dispatcher = try Dispatcher(
            config: config,
            drivers: DriverRegistry([.loopback]),
            logger: logger,
            recordsDecisions: journal
        )
        let service = Task { try await dispatcher.run(signals: false) }
        let root = URL(string: "\(scheme)://127.0.0.1:\(port)")!
        let client =
            try caPEM.map { try ArvadosClient(baseURL: root, token: "bench-root-token", trustingCA: $0) }
            ?? ArvadosClient(baseURL: root, token: "bench-root-token")
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while (try? await client.currentAuthorization()) == nil {
            guard ContinuousClock.now < deadline else { throw BenchmarkFailure(description: "the API did not start") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return Stack(dispatcher: dispatcher, client: client, directory: directory, service: service)
    }

    func stop() async {
        await self.dispatcher.shutdown()
        _ = await self.service.result
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    func submit(_ command: [String], priority: Int = 1) async throws -> ContainerUUID {
        try await self.client.createContainer([
            "command": .array(command.map(JSONValue.string)),
            "container_image": .string("loopback"),
            "output_path": .string("/tmp"),
            "priority": .int(Int64(priority)),
            "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(64 << 20)]),
        ]).uuid
    }

    /// Polls the container every `interval` until it is final.
    func waitFinal(
        _ uuid: ContainerUUID,
        interval: Duration = .milliseconds(20),
        timeout: Duration = .seconds(120)
    ) async throws -> Container {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let container = try await self.client.container(uuid)
            if container.state.isFinal { return container }
            guard ContinuousClock.now < deadline else { throw BenchmarkFailure(description: "\(uuid) did not finish") }
            try await Task.sleep(for: interval)
        }
    }

    func stdout(_ uuid: ContainerUUID) async throws -> String {
        for _ in 0..<200 {
            let page = try await self.client.logs(
                filters: [
                    ArvadosFilter("object_uuid", "=", .string(uuid.rawValue)),
                    ArvadosFilter("event_type", "=", .string("stdout")),
                ],
                limit: 100
            )
            let text = page.items.compactMap(\.text).joined()
            if !text.isEmpty { return text }
            try await Task.sleep(for: .milliseconds(10))
        }
        return ""
    }
}

func latency(count: Int) async throws {
    let journal = ProcessInfo.processInfo.environment["DISPATCH_BENCHMARK_JOURNAL"] == "off" ? "off" : "on"
    let pollMilliseconds =
        ProcessInfo.processInfo.environment["DISPATCH_BENCHMARK_POLL_MS"].flatMap { Int($0) }.map { max(1, $0) } ?? 20
    let pollInterval = Duration.milliseconds(pollMilliseconds)
    print(
        "== warm dispatch latency: \(count) containers one after another on an idle loopback instance (journal "
            + "\(journal), state polled every \(pollMilliseconds) ms)"
    )
    let stack = try await Stack.start(
        instanceTypes: """
                  small:
                    VCPUs: 1
                    RAM: 1GiB
                    Price: 0.01
            """,
        maxInstances: 1
    )
    // Warm up: boot the instance and deploy the runner.
    let first = try await stack.submit(["true"])
    _ = try await stack.waitFinal(first)
    var latencies: [Double] = []
    for _ in 0..<count {
        // Measure on an idle instance: wait until the previous container's runner is gone.
        while await stack.dispatcher.pool.instances().contains(where: { $0.workerState != .idle }) {
            try await Task.sleep(for: .milliseconds(1))
        }
        let before = Date().timeIntervalSince1970
        let uuid = try await stack.submit(["date", "+%s.%N"])
        if ProcessInfo.processInfo.environment["DISPATCH_BENCHMARK_LOG"] != nil {
            FileHandle.standardError.write(
                Data(
                    String(
                        format: "%.3f created %@ (call took %.1f ms)\n",
                        Date().timeIntervalSince1970,
                        uuid.rawValue,
                        (Date().timeIntervalSince1970 - before) * 1000
                    ).utf8
                )
            )
        }
        // Every 20 ms, as a client would: each poll is a request the dispatcher serves on the same 2 cores while the
        // container starts, and at every 2 ms (until session 18) the polls alone added about 1 ms to the p50.
        // DISPATCH_BENCHMARK_POLL_MS sets another interval.
        let container = try await stack.waitFinal(uuid, interval: pollInterval)
        guard container.state == .complete else {
            throw BenchmarkFailure(description: "\(uuid) ended \(container.state)")
        }
        let text = try await stack.stdout(uuid).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let started = Double(text) else { throw BenchmarkFailure(description: "\(uuid) printed \(text)") }
        latencies.append((started - before) * 1000)
    }
    await stack.stop()
    // All of them, and the first 40 as Slurm's baseline was measured (../shared/reference/slurm-baseline.md).
    for sample in [latencies, Array(latencies.prefix(40))] where !sample.isEmpty {
        let sorted = sample.sorted()
        print(
            String(
                format: "created → process started: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (n=%d)",
                percentile(sorted, 50),
                percentile(sorted, 90),
                percentile(sorted, 99),
                sorted.last ?? .nan,
                sorted.count
            )
        )
        if sample.count == latencies.count && latencies.count <= 40 { break }
    }
}

func throughput(count: Int) async throws {
    print("== throughput: \(count) trivial containers (true), one instance type with 16 slots")
    let stack = try await Stack.start(
        instanceTypes: """
                  sixteen:
                    VCPUs: 16
                    RAM: 64GiB
                    Price: 0.16
            """,
        maxInstances: 4
    )
    let started = ContinuousClock.now
    let cpuAtStart = CPUTimes.now()
    var uuids: [ContainerUUID] = []
    for _ in 0..<count { uuids.append(try await stack.submit(["true"])) }
    let submitted = ContinuousClock.now
    // Watch progress cheaply (a count, not the records), so the watching does not load the API it measures.
    let finalStates: JSONValue = .array([.string("Complete"), .string("Cancelled")])
    while true {
        let done = try await stack.client.containers(
            filters: [ArvadosFilter("state", "in", finalStates)],
            limit: 0,
            count: "exact"
        )
        if (done.itemsAvailable ?? 0) >= count { break }
        try await Task.sleep(for: .milliseconds(100))
        if ContinuousClock.now - started > .seconds(1800) { throw BenchmarkFailure(description: "timed out") }
    }
    let elapsed = seconds(ContinuousClock.now - started)
    let cpu = CPUTimes.now() - cpuAtStart
    var failures = 0
    var offset = 0
    while offset < uuids.count {
        let page = try await stack.client.containers(
            filters: [
                ArvadosFilter(
                    "uuid",
                    "in",
                    .array(uuids[offset..<min(offset + 500, uuids.count)].map { .string($0.rawValue) })
                )
            ],
            limit: 500,
            select: ["uuid", "state", "exit_code", "runtime_status"],
            count: "none"
        )
        for container in page.items where container.state != .complete || container.exitCode != 0 {
            failures += 1
            print(
                "  \(container.uuid): \(container.state) exit \(container.exitCode.map(String.init) ?? "-") \(container.runtimeStatus)"
            )
        }
        offset += 500
    }
    await stack.stop()
    print(
        String(
            format: "%d containers in %.1f s (creates took %.1f s): %.1f containers/s, %d not Complete with exit 0",
            count,
            elapsed,
            seconds(submitted - started),
            Double(count) / elapsed,
            failures
        )
    )
    print(
        String(
            format:
                "CPU per container: %.1f ms in the dispatcher process, %.1f ms elsewhere (runners, containers, SSH sessions)",
            cpu.process * 1000 / Double(count),
            (cpu.machine - cpu.process) * 1000 / Double(count)
        )
    )
}

/// Log lines with millisecond timestamps, to see where time goes (`DISPATCH_BENCHMARK_LOG=debug`).
struct MillisecondLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let now = Date().timeIntervalSince1970
        let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        FileHandle.standardError.write(
            Data(String(format: "%.3f %@ %@ %@\n", now, "\(event.level)", "\(event.message)", fields).utf8)
        )
    }
}

if ProcessInfo.processInfo.environment["DISPATCH_BENCHMARK_LOG"] != nil {
    LoggingSystem.bootstrap { _ in MillisecondLogHandler() }
}

let arguments = CommandLine.arguments.dropFirst()
let mode = arguments.first ?? "all"
let count = arguments.dropFirst().first.flatMap(Int.init)
do {
    if mode == "latency" || mode == "all" { try await latency(count: count ?? 200) }
    if mode == "throughput" || mode == "all" { try await throughput(count: count ?? 1000) }
    if !["latency", "throughput", "all"].contains(mode) {
        print("usage: dispatch-benchmark [latency|throughput|all] [COUNT]")
        exit(2)
    }
} catch {
    print("error: \(error)")
    exit(1)
}
