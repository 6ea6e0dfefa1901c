// `swift run -c release simulation-benchmark [day|week] [containers] [max-instances]`: the wall time and peak
// memory of `dispatch-cloud simulate`'s engine on a generated workload.
//
//   day:  10,000 containers over a simulated day, MaxInstances 1,000 (the "day" target: ≤ 30 s)
//   week: 100,000 containers over a simulated week, MaxInstances 1,000 (target: ≤ 5 min, RSS < 2 GiB)
import DispatchConfig
import DispatchSimulation
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Writes a line at once (unbuffered), so progress shows, and survives a timeout, when the output is a pipe.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

// The same run, byte for byte, every time (dictionaries iterate in a per-process order otherwise).
Simulator.reexecWithDeterministicHashing()

let arguments = Array(CommandLine.arguments.dropFirst())
let mode = arguments.first ?? "day"
let days = mode == "week" ? 7 : 1
let count = arguments.count > 1 ? Int(arguments[1]) ?? 10_000 : (mode == "week" ? 100_000 : 10_000)
let maxInstances = arguments.count > 2 ? Int(arguments[2]) ?? 1000 : 1000

/// Containers arriving at a nearly even pace (the daily wave moves each submission by at most 21 minutes, so after
/// the first hours the load is nearly flat, not busier in the working day), 1–8 VCPUs, running 20 minutes to
/// 3 hours: the day's 10,000 keep about 0.8 × `maxInstances` instances busy at the peak (817 of 1,000); the week's
/// 100,000 (14,286 a day) need about as many instances as `maxInstances` allows, so every instance stays busy and a
/// backlog builds (waits p99 14 h 29 m): the harder case for the engine, a full pool and a queue of waiting entries.
func workload() -> Workload {
    var generator = SplitMix(state: 42)
    var entries: [Workload.Entry] = []
    entries.reserveCapacity(count)
    let span = Double(days * 86400)
    for i in 0..<count {
        let base = Double(i) / Double(count) * span
        let wave = 0.35 * 3600 * sin(base / 86400 * 2 * .pi)
        let submit = max(0, min(span - 1, base + wave + Double(generator.next() % 600)))
        let vcpus = [1, 1, 2, 2, 4, 8][Int(generator.next() % 6)]
        entries.append(
            Workload.Entry(
                submit: .seconds(Int64(submit)),
                vcpus: vcpus,
                ram: Int64(vcpus) * (3 << 30),
                priority: Int(generator.next() % 1000) + 1,
                runTime: .seconds(Int64(1200 + generator.next() % 9600)),
                exitCode: generator.next() % 50 == 0 ? 1 : 0
            )
        )
    }
    return Workload(entries: entries)
}

struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let yaml = """
    Clusters:
      zbnch:
        SystemRootToken: benchmark-root-token
        Services: {Controller: {ExternalURL: "https://simulation.invalid"}}
        Containers:
          CloudVMs:
            Driver: simulated
            DriverParameters: {BootTime: {Min: 1m, Max: 3m}, ShutdownTime: {Min: 10s, Max: 30s}}
            MaxInstances: \(maxInstances)
        InstanceTypes:
          c1: {ProviderType: c1, VCPUs: 1, RAM: 4GiB, IncludedScratch: 16GiB, Price: 0.05}
          c2: {ProviderType: c2, VCPUs: 2, RAM: 8GiB, IncludedScratch: 32GiB, Price: 0.10}
          c4: {ProviderType: c4, VCPUs: 4, RAM: 16GiB, IncludedScratch: 64GiB, Price: 0.20}
          c8: {ProviderType: c8, VCPUs: 8, RAM: 32GiB, IncludedScratch: 128GiB, Price: 0.40}
    """
let config = try ClusterConfig.load(yaml: yaml, sourceName: "benchmark").config
let work = workload()
say("simulation-benchmark \(mode): \(count) containers over \(days) simulated day(s), MaxInstances \(maxInstances)")
let started = ContinuousClock.now
let lastReport = Mutex(started)
var simulator = Simulator(config: config, configurationName: "benchmark", seed: 1)
simulator.progress = { progress in
    let now = ContinuousClock.now
    let due = lastReport.withLock { last in
        guard now - last > .seconds(10) else { return false }
        last = now
        return true
    }
    guard due else { return }
    say(
        "  … simulated \(SimulationSummary.duration(progress.simulated)) after \(SimulationSummary.wall(now - started)): "
            + "\(progress.finished)/\(progress.total) done, \(progress.instances) instances"
    )
}
let counts = Mutex(Simulator.Statistics())
simulator.statistics = { statistics in counts.withLock { $0 = statistics } }
let result = try await simulator.run(work)
let took = ContinuousClock.now - started
var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
let seconds = Double(took.components.seconds) + Double(took.components.attoseconds) * 1e-18
say(
    """
    wall time          \(SimulationSummary.wall(took))
    simulated          \(SimulationSummary.duration(seconds: result.simulatedSeconds)) (\(Int(result.simulatedSeconds / max(seconds, 0.001)))× real time)
    containers         \(result.containers.complete) complete, \(result.containers.cancelled) cancelled, \(result.containers.unfinished) unfinished (\(Int(Double(count) / max(seconds, 0.001))) per wall second)
    peak instances     \(result.peakInstances)
    peak RSS           \(usage.ru_maxrss / 1024) MiB
    CPU                user \(usage.ru_utime.tv_sec) s, system \(usage.ru_stime.tv_sec) s
    wait p50/p90/p99   \(SimulationSummary.duration(seconds: result.waitSeconds.p50)) / \(SimulationSummary.duration(seconds: result.waitSeconds.p90)) / \(SimulationSummary.duration(seconds: result.waitSeconds.p99))
    cost               \(Int(result.cost))
    events             \(counts.withLock { $0 })
    """
)
