// `scale-benchmark CELL|all [options]`: the whole daemon at cloud scale. Runs the built
// `dispatch-cloud serve` (build it first: `swift build -c release --product dispatch-cloud`) as a real process
// with the simulated driver in real time, queues N containers at once through the real container API, and
// reports what the daemon costs as N and the instance count grow. See `--help`.
//
// Network: every request goes to 127.0.0.1 (the daemon's API and management ports); the simulated cloud's
// instances are never dialled.

import ArvadosAPI
import AsyncHTTPClient
import DispatchModel
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
}

// MARK: - Options

struct Options {
    var cells: [Cell] = []
    var binary = ".build/release/dispatch-cloud"
    var bootTime = (min: "1s", max: "3s")
    var runTime = (min: "1s", max: "3s")
    var probeInterval = "2s"
    var maxProbesPerSecond = 10
    var cloudOpsPerSecond = 200
    var createConcurrency = 32
    var timeoutIdle = "10s"
    var keep = false

    static let usage = """
        usage: scale-benchmark CELL|all [options]

        Runs the built `dispatch-cloud serve` (release) with the simulated driver in real time, queues CONTAINERS
        containers at once through its API (batched concurrent creates), and reports for the cell: time to the
        first start, time until every container has started, sustained completion rate, the daemon's CPU per
        container (/proc/PID/stat), its peak RSS (VmHWM), GET and list p99 of a client polling the API meanwhile,
        the management `instances` p99, /metrics size and time, and the probe round. At the end it checks that
        every container is Complete exactly once (one runner log line each) and that no instance is left after
        TimeoutIdle.

        CELL is CONTAINERSxINSTANCES (MaxInstances, one container per instance), e.g. 1000x100; `all` runs the
        ladder 1000, 10000, 100000 containers × 100, 1000, 10000 instances, smallest first.

        options:
          --binary PATH               the dispatch-cloud executable (default .build/release/dispatch-cloud)
          --boot MIN-MAX              simulated boot time (default 1s-3s)
          --run MIN-MAX               simulated run time (default 1s-3s)
          --probe-interval D          ProbeInterval (default 2s)
          --max-probes-per-second N   MaxProbesPerSecond (default 10, Arvados's default)
          --cloud-ops-per-second N    MaxCloudOpsPerSecond, the modelled cloud's API limit (default 200)
          --create-concurrency N      container creates in flight (default 32)
          --timeout-idle D            TimeoutIdle (default 10s)
          --keep                      keep the cell's directory (config, serve.log) after the run
        """

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var index = 0
        func value() throws -> String {
            index += 1
            guard index < arguments.count else {
                throw BenchmarkFailure(description: "\(arguments[index - 1]) needs a value")
            }
            return arguments[index]
        }
        func range(_ text: String) throws -> (min: String, max: String) {
            let parts = text.split(separator: "-").map(String.init)
            guard parts.count == 2 else { throw BenchmarkFailure(description: "\(text): expected MIN-MAX, e.g. 1s-3s") }
            return (parts[0], parts[1])
        }
        func integer(_ text: String) throws -> Int {
            guard let number = Int(text), number >= 0 else {
                throw BenchmarkFailure(description: "\(text): not a count")
            }
            return number
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "--help", "-h":
                say(Self.usage)
                exit(0)
            case "--binary": options.binary = try value()
            case "--boot": options.bootTime = try range(try value())
            case "--run": options.runTime = try range(try value())
            case "--probe-interval": options.probeInterval = try value()
            case "--max-probes-per-second": options.maxProbesPerSecond = try integer(try value())
            case "--cloud-ops-per-second": options.cloudOpsPerSecond = try integer(try value())
            case "--create-concurrency": options.createConcurrency = max(1, try integer(try value()))
            case "--timeout-idle": options.timeoutIdle = try value()
            case "--keep": options.keep = true
            case "all": options.cells = Cell.ladder
            default:
                guard let cell = Cell(argument) else {
                    throw BenchmarkFailure(description: "unknown argument \(argument)\n\n\(Self.usage)")
                }
                options.cells.append(cell)
            }
            index += 1
        }
        guard !options.cells.isEmpty else { throw BenchmarkFailure(description: Self.usage) }
        return options
    }
}

struct Cell: CustomStringConvertible {
    var containers: Int
    var instances: Int

    static let ladder: [Cell] = [1000, 10_000, 100_000].flatMap { containers in
        [100, 1000, 10_000].map { Cell(containers: containers, instances: $0) }
    }

    init(containers: Int, instances: Int) {
        self.containers = containers
        self.instances = instances
    }

    init?(_ text: String) {
        let parts = text.lowercased().split(separator: "x")
        guard parts.count == 2, let containers = Int(parts[0]), let instances = Int(parts[1]), containers > 0,
            instances > 0
        else { return nil }
        self.init(containers: containers, instances: instances)
    }

    var description: String { "\(self.containers)x\(self.instances)" }
}

// MARK: - Helpers

/// Writes a line to standard output at once (unbuffered), so progress survives a pipe and a timeout.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchmarkFailure(description: "socket: \(errno)") }
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

func percentile(_ samples: [Double], _ p: Double) -> Double {
    let sorted = samples.sorted()
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// The daemon's CPU seconds (user + system) and peak RSS, from /proc.
struct ProcessFigures {
    var cpuSeconds: Double
    var peakRSSBytes: Int

    static func read(_ pid: Int32) -> ProcessFigures {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var cpu = 0.0
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        {
            // After "pid (comm)": state is field 3, utime and stime fields 14 and 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 12 { cpu = ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks }
        }
        var peak = 0
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) {
            for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
                peak =
                    (Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0)
                    * 1024
            }
        }
        return ProcessFigures(cpuSeconds: cpu, peakRSSBytes: peak)
    }
}

/// Latency samples of one kind of request, in milliseconds.
actor Samples {
    private var values: [String: [Double]] = [:]
    private var errors: [String: Int] = [:]
    private var extra: [String: [Double]] = [:]

    func add(_ kind: String, milliseconds: Double) { self.values[kind, default: []].append(milliseconds) }
    func fail(_ kind: String) { self.errors[kind, default: 0] += 1 }
    func note(_ kind: String, _ value: Double) { self.extra[kind, default: []].append(value) }
    func all(_ kind: String) -> [Double] { self.values[kind] ?? [] }
    func failures(_ kind: String) -> Int { self.errors[kind] ?? 0 }
    func notes(_ kind: String) -> [Double] { self.extra[kind] ?? [] }
}

func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let result = try await body()
    return (result, seconds(ContinuousClock.now - start) * 1000)
}

/// The daemon's management API (bearer token), over AsyncHTTPClient.
struct Management {
    let base: String
    let token: String

    func get(_ path: String) async throws -> (status: Int, body: ByteBuffer) {
        var request = HTTPClientRequest(url: self.base + path)
        request.headers.add(name: "Authorization", value: "Bearer \(self.token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 1 << 30)
        return (Int(response.status.code), body)
    }

    /// The value of an unlabelled metric in a Prometheus exposition.
    static func metric(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}

// MARK: - One cell

struct CellResult {
    var cell: Cell
    var createSeconds: Double
    var firstStart: Double
    var allStarted: Double
    var allDone: Double
    var completionRate: Double
    var cpuPerContainerMs: Double
    var peakRSSMiB: Double
    var getP99: Double
    var listP99: Double
    var instancesP99: Double
    var instancesItems: Int
    var metricsBytes: Int
    var metricsP99: Double
    var probeAgeMax: Double
    var probeRound: Double?
    var drainSeconds: Double?
    var complete: Int
    var notComplete: Int
    var runnerLogsOff: Int
    var apiFailures: Int

    var row: String {
        String(
            format:
                "| %@ | %@ | %.1f | %.1f | %.1f | %.0f | %.2f | %.0f | %.0f / %.0f | %.0f (%d items) | %d KiB, %.0f | %@ | %@ | %@ |",
            "\(self.cell.containers)",
            "\(self.cell.instances)",
            self.firstStart,
            self.allStarted,
            self.allDone,
            self.completionRate,
            self.cpuPerContainerMs,
            self.peakRSSMiB,
            self.getP99,
            self.listP99,
            self.instancesP99,
            self.instancesItems,
            self.metricsBytes / 1024,
            self.metricsP99,
            self.probeRound.map { String(format: "%.1f", $0) } ?? String(format: "≤%.0f (age)", self.probeAgeMax),
            self.drainSeconds.map { String(format: "%.0f", $0) } ?? "no",
            self.notComplete == 0 && self.runnerLogsOff == 0 ? "yes" : "NO"
        )
    }

    static let header = """
        | containers | instances | first start s | all started s | all done s | completions/s | CPU ms/container | peak RSS MiB | GET / list p99 ms | instances p99 ms | /metrics size, p99 ms | probe round s | drained after idle s | all Complete once |
        |---|---|---|---|---|---|---|---|---|---|---|---|---|---|
        """
}

func run(_ cell: Cell, _ options: Options) async throws -> CellResult {
    guard FileManager.default.isExecutableFile(atPath: options.binary) else {
        throw BenchmarkFailure(
            description:
                "\(options.binary) is not an executable: build it with `swift build -c release --product dispatch-cloud` or pass --binary"
        )
    }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "scale-benchmark-\(getpid())-\(cell)"
    ).path
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { if !options.keep { try? FileManager.default.removeItem(atPath: directory) } }
    let apiPort = try freePort()
    let managementPort = try freePort()
    let rootToken = "scale-root-token"
    let managementToken = "scale-management-token"
    let yaml = """
        Clusters:
          scale:
            SystemRootToken: \(rootToken)
            ManagementToken: \(managementToken)
            Services:
              Controller:
                ExternalURL: http://127.0.0.1:\(apiPort)
                InternalURLs:
                  http://127.0.0.1:\(apiPort): {}
              DispatchCloud:
                InternalURLs:
                  http://127.0.0.1:\(managementPort): {}
            Containers:
              ReserveExtraRAM: 256MiB
              LocalKeepBlobBuffersPerVCPU: 0
              CloudVMs:
                Enable: true
                Driver: simulated
                DriverParameters:
                  Seed: 19
                  BootTime: {Min: \(options.bootTime.min), Max: \(options.bootTime.max)}
                  RunTime: {Min: \(options.runTime.min), Max: \(options.runTime.max)}
                  ExitCodes: {"0": 1}
                BootProbeCommand: "true"
                ImageID: scale-image
                MaxInstances: \(cell.instances)
                MaxProbesPerSecond: \(options.maxProbesPerSecond)
                MaxCloudOpsPerSecond: \(options.cloudOpsPerSecond)
                PollInterval: 5s
                ProbeInterval: \(options.probeInterval)
                SyncInterval: 5s
                TimeoutIdle: \(options.timeoutIdle)
                TimeoutBooting: 10m
                TimeoutProbe: 10m
                DeployRunnerDirectory: \(directory)/runner
            InstanceTypes:
              one:
                VCPUs: 1
                RAM: 1GiB
                IncludedScratch: 2GiB
                Price: 0.01
            DispatchCloud:
              DataDirectory: \(directory)/data
              EmbeddedContainerAPI: true

        """
    let configPath = directory + "/config.yml"
    try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    let logPath = directory + "/serve.log"
    _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: options.binary)
    process.arguments = ["serve", "--config", configPath]
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let pid = process.processIdentifier
    defer { if process.isRunning { kill(pid, SIGKILL) } }

    let client = ArvadosClient(baseURL: URL(string: "http://127.0.0.1:\(apiPort)")!, token: rootToken)
    let management = Management(base: "http://127.0.0.1:\(managementPort)", token: managementToken)
    let ready = ContinuousClock.now.advanced(by: .seconds(60))
    while (try? await client.currentAuthorization()) == nil {
        guard process.isRunning, ContinuousClock.now < ready else {
            throw BenchmarkFailure(description: "serve did not start; see \(logPath)")
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    say("== cell \(cell): \(cell.containers) containers, MaxInstances \(cell.instances) (serve pid \(pid))")

    let samples = Samples()
    let cpuBefore = ProcessFigures.read(pid).cpuSeconds
    let start = ContinuousClock.now
    let stop = ManagedAtomicFlag()

    // The polling client and the management watcher run for the whole cell. The client has its own thread and
    // connection, so what it measures is the API's latency, not this process's busy task pool.
    let poller = PollingClient(port: apiPort, token: rootToken)
    poller.start()
    let watchers = Task {
        await withTaskGroup(of: Void.self) { group in
            // An operator's view: the management instances listing every second, /metrics every 2 s.
            group.addTask {
                var tick = 0
                while !stop.isSet {
                    do {
                        let ((status, body), ms) = try await timed {
                            try await management.get("/arvados/v1/dispatch/instances")
                        }
                        if status == 200 {
                            await samples.add("instances", milliseconds: ms)
                            let object =
                                try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
                            await samples.note("instances.items", Double((object?["items"] as? [Any])?.count ?? 0))
                        } else {
                            await samples.fail("instances")
                        }
                    } catch {
                        await samples.fail("instances")
                    }
                    if tick % 2 == 0 {
                        do {
                            let ((status, body), ms) = try await timed { try await management.get("/metrics") }
                            if status == 200 {
                                await samples.add("metrics", milliseconds: ms)
                                await samples.note("metrics.bytes", Double(body.readableBytes))
                                let text = String(buffer: body)
                                if let age = Management.metric("arvados_dispatchcloud_probe_age_seconds_max", in: text)
                                {
                                    await samples.note("probe.age", age)
                                }
                                if let round = Management.metric(
                                    "arvados_dispatchcloud_probe_round_duration_seconds",
                                    in: text
                                ), round > 0 {
                                    await samples.note("probe.round", round)
                                }
                            } else {
                                await samples.fail("metrics")
                            }
                        } catch {
                            await samples.fail("metrics")
                        }
                    }
                    tick += 1
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    // Queue every container at once: batched concurrent creates.
    let attributes: [String: JSONValue] = [
        "command": .array([.string("true")]),
        "container_image": .string("scale-image"),
        "output_path": .string("/tmp"),
        "priority": .int(1),
        "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(64 << 20)]),
    ]
    // The creates run while the progress below is watched, so the first start is seen when it happens.
    let creating = Task {
        try await withThrowingTaskGroup(of: Void.self) { group in
            let perWorker = (cell.containers + options.createConcurrency - 1) / options.createConcurrency
            for worker in 0..<options.createConcurrency {
                let range = (worker * perWorker)..<min(cell.containers, (worker + 1) * perWorker)
                guard !range.isEmpty else { continue }
                group.addTask {
                    for _ in range {
                        var attempt = 0
                        while true {
                            do {
                                let container = try await client.createContainer(attributes)
                                poller.add(container.uuid.rawValue)
                                break
                            } catch {
                                attempt += 1
                                guard attempt < 5 else { throw error }
                                try await Task.sleep(for: .milliseconds(100 * attempt))
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let createSeconds = seconds(ContinuousClock.now - start)
        say(String(format: "  created %d containers in %.1f s", cell.containers, createSeconds))
        return createSeconds
    }

    // Progress: counts of started (Running or final) and final containers, 4 times a second.
    var firstStart: Double?
    var allStarted: Double?
    var doneTimes: [(Double, Int)] = []
    let timeout = Double(120 + cell.containers / 10)
    var lastReport = 0.0
    while true {
        let now = seconds(ContinuousClock.now - start)
        guard now < timeout, process.isRunning else {
            creating.cancel()
            stop.set()
            await watchers.value
            _ = poller.stop()
            throw BenchmarkFailure(
                description:
                    "cell \(cell): \(doneTimes.last?.1 ?? 0) of \(cell.containers) done after \(Int(now)) s; see \(logPath)"
            )
        }
        let started = try? await client.containers(
            filters: [
                ArvadosFilter("state", "in", .array(["Running", "Complete", "Cancelled"].map { JSONValue.string($0) }))
            ],
            limit: 0,
            count: "exact"
        ).itemsAvailable
        let done = try? await client.containers(
            filters: [ArvadosFilter("state", "in", .array(["Complete", "Cancelled"].map { JSONValue.string($0) }))],
            limit: 0,
            count: "exact"
        ).itemsAvailable
        let at = seconds(ContinuousClock.now - start)
        if let started, started > 0, firstStart == nil { firstStart = at }
        if let started, started >= cell.containers, allStarted == nil { allStarted = at }
        if let done {
            doneTimes.append((at, done))
            if done >= cell.containers { break }
        }
        if at - lastReport >= 10 {
            lastReport = at
            say(String(format: "  %.0f s: %d started, %d done", at, started ?? -1, done ?? -1))
        }
        try await Task.sleep(for: .milliseconds(250))
    }
    let createSeconds = try await creating.value
    let allDone = doneTimes.last!.0
    let cpuAfter = ProcessFigures.read(pid).cpuSeconds
    // Sustained rate: from 10% to 90% done.
    let low = doneTimes.first { $0.1 >= cell.containers / 10 }!
    let high = doneTimes.first { $0.1 >= cell.containers * 9 / 10 }!
    let rate = high.0 > low.0 ? Double(high.1 - low.1) / (high.0 - low.0) : Double(cell.containers) / allDone

    // No instance left after TimeoutIdle (and the cloud's destroy rate).
    let drainStart = ContinuousClock.now
    var drainSeconds: Double?
    let drainTimeout = 60.0 + Double(cell.instances) / Double(max(1, options.cloudOpsPerSecond)) * 2
    while seconds(ContinuousClock.now - drainStart) < drainTimeout {
        if let (status, body) = try? await management.get("/arvados/v1/dispatch/instances"), status == 200,
            let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
            (object["items"] as? [Any])?.isEmpty == true
        {
            drainSeconds = seconds(ContinuousClock.now - drainStart)
            break
        }
        try await Task.sleep(for: .milliseconds(500))
    }
    stop.set()
    await watchers.value
    let polled = poller.stop()

    // Every container Complete exactly once: its state, and one runner log line ("container exited").
    var complete = 0
    var notComplete = 0
    var lastUUID = ""
    while true {
        var filters: [ArvadosFilter] = []
        if !lastUUID.isEmpty { filters.append(ArvadosFilter("uuid", ">", .string(lastUUID))) }
        let page = try await client.containers(
            filters: filters,
            order: ["uuid"],
            limit: 1000,
            select: ["uuid", "state", "exit_code"],
            count: "none"
        )
        guard let last = page.items.last else { break }
        for container in page.items {
            if container.state == .complete && container.exitCode == 0 { complete += 1 } else { notComplete += 1 }
        }
        lastUUID = last.uuid.rawValue
    }
    var runnerLogs: [String: Int] = [:]
    var lastLog = ""
    while true {
        var filters = [ArvadosFilter("event_type", "=", .string("crunch-run"))]
        if !lastLog.isEmpty { filters.append(ArvadosFilter("uuid", ">", .string(lastLog))) }
        let page = try await client.logs(filters: filters, order: ["uuid asc"], limit: 1000)
        guard let last = page.items.last, let uuid = last.uuid else { break }
        for log in page.items { runnerLogs[log.objectUUID, default: 0] += 1 }
        lastLog = uuid
    }
    let runnerLogsOff =
        runnerLogs.values.filter { $0 != 1 }.count + max(0, cell.containers - runnerLogs.count)

    let figures = ProcessFigures.read(pid)
    kill(pid, SIGTERM)
    let exited = ContinuousClock.now.advanced(by: .seconds(60))
    while process.isRunning && ContinuousClock.now < exited { try await Task.sleep(for: .milliseconds(100)) }

    let metricsBytes = Int(await samples.notes("metrics.bytes").max() ?? 0)
    let instancesItems = Int(await samples.notes("instances.items").max() ?? 0)
    let rounds = await samples.notes("probe.round")
    let result = CellResult(
        cell: cell,
        createSeconds: createSeconds,
        firstStart: firstStart ?? .nan,
        allStarted: allStarted ?? allDone,
        allDone: allDone,
        completionRate: rate,
        cpuPerContainerMs: (cpuAfter - cpuBefore) * 1000 / Double(cell.containers),
        peakRSSMiB: Double(figures.peakRSSBytes) / 1_048_576,
        getP99: percentile(polled.get, 99),
        listP99: percentile(polled.list, 99),
        instancesP99: percentile(await samples.all("instances"), 99),
        instancesItems: instancesItems,
        metricsBytes: metricsBytes,
        metricsP99: percentile(await samples.all("metrics"), 99),
        probeAgeMax: await samples.notes("probe.age").max() ?? .nan,
        probeRound: rounds.isEmpty ? nil : rounds.max(),
        drainSeconds: drainSeconds,
        complete: complete,
        notComplete: notComplete,
        runnerLogsOff: runnerLogsOff,
        apiFailures: polled.failures
    )
    say(
        String(
            format: "  first start %.1f s, all started %.1f s, all done %.1f s, %.0f completions/s (10%%–90%%)",
            result.firstStart,
            result.allStarted,
            result.allDone,
            result.completionRate
        )
    )
    say(
        String(
            format: "  daemon CPU %.2f ms/container (%.1f s in all), peak RSS %.0f MiB",
            result.cpuPerContainerMs,
            cpuAfter - cpuBefore,
            result.peakRSSMiB
        )
    )
    say(
        String(
            format:
                "  polling client: GET p50 %.1f p99 %.1f ms (n=%d), list p50 %.1f p99 %.1f ms (n=%d), %d failed",
            percentile(polled.get, 50),
            result.getP99,
            polled.get.count,
            percentile(polled.list, 50),
            result.listP99,
            polled.list.count,
            result.apiFailures
        )
    )
    say(
        String(
            format:
                "  management instances p50 %.1f p99 %.1f ms (up to %d items), /metrics up to %d bytes, p99 %.1f ms",
            percentile(await samples.all("instances"), 50),
            result.instancesP99,
            instancesItems,
            metricsBytes,
            result.metricsP99
        )
    )
    say(
        "  probe round: "
            + (result.probeRound.map { String(format: "%.1f s (longest)", $0) } ?? "not reported")
            + String(format: ", oldest probe age up to %.1f s", result.probeAgeMax)
    )
    say(
        "  checks: \(complete) Complete with exit 0, \(notComplete) not; runner logs off for \(runnerLogsOff); "
            + (drainSeconds.map { String(format: "no instance left %.0f s after the last completion", $0) }
                ?? "INSTANCES LEFT after \(Int(drainTimeout)) s")
    )
    say("  " + result.row)
    return result
}

/// A flag set once, read from any task.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { self.lock.withLock { self.value } }
    func set() { self.lock.withLock { self.value = true } }
}

// MARK: - Main

do {
    let options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
    var results: [CellResult] = []
    for cell in options.cells {
        do {
            results.append(try await run(cell, options))
        } catch {
            say("cell \(cell) failed: \(error)")
            if options.cells.count == 1 { exit(1) }
        }
    }
    say("")
    say(
        "machine: \(ProcessInfo.processInfo.activeProcessorCount) CPUs, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB; "
            + "boot \(options.bootTime.min)-\(options.bootTime.max), run \(options.runTime.min)-\(options.runTime.max), "
            + "ProbeInterval \(options.probeInterval), MaxProbesPerSecond \(options.maxProbesPerSecond), "
            + "MaxCloudOpsPerSecond \(options.cloudOpsPerSecond)"
    )
    say(CellResult.header)
    for result in results { say(result.row) }
    if results.contains(where: { $0.notComplete > 0 || $0.runnerLogsOff > 0 || $0.drainSeconds == nil }) { exit(1) }
} catch {
    say("error: \(error)")
    exit(2)
}
