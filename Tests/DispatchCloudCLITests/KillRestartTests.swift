import ArvadosAPI
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `dispatch-cloud serve` killed with SIGKILL and started again on the same data directory, as a crash and
/// a supervisor's restart: no container runs twice, none is lost, no instance is left behind (issue 14).
@Suite("serve under kill -9", .serialized)
struct KillRestartTests {
    static let containers = 100
    static let kills = 3

    @Test(
        "100 containers through three kill -9 of serve: each process started exactly once, all Complete, no instance left",
        .timeLimit(.minutes(10))
    )
    func killNineThreeTimes() async throws {
        let started = ContinuousClock.now
        let directory = try TemporaryDirectory(prefix: "kill-restart")
        defer { directory.remove() }
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.managementPort = try LoopbackPort.free()
        cluster.timeoutIdle = "3s"
        // The markers are written to the host's filesystem (bubblewrap gives each container its own /tmp).
        cluster.processSandboxMode = "none"
        let configPath = try directory.write(cluster.yaml, to: "config.yml")
        let markers = directory.file("markers")
        try FileManager.default.createDirectory(atPath: markers, withIntermediateDirectories: true)

        var generation = 0
        func startServe() throws -> ServeCommandTests.Daemon {
            generation += 1
            return try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve-\(generation).log"))
        }
        var daemon = try startServe()
        defer { daemon.process.signal(SIGKILL) }
        let client = ServeCommandTests.client(cluster)
        try #require(await eventually(timeout: .seconds(60)) { try? await client.currentAuthorization() } != nil)

        // Each start of a container's process leaves its own marker: c<i>.<pid>.
        var uuids: [ContainerUUID] = []
        for i in 0..<Self.containers {
            let container = try await client.createContainer([
                "command": .array([.string("sh"), .string("-c"), .string("touch \(markers)/c\(i).$$; sleep 0.5")]),
                "container_image": .string("test-image"),
                "output_path": .string("/tmp"),
                "cwd": .string("/tmp"),
                "priority": .int(Int64(1 + i % 10)),
                "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(128 << 20)]),
            ])
            uuids.append(container.uuid)
        }

        // Kill at random moments: once a random number of containers in each third of the run has finished.
        let seed =
            UInt64(ProcessInfo.processInfo.environment["KILL_RESTART_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        var random = SplitMix(state: seed)
        let third = Self.containers / (Self.kills + 1)
        let killAt = (0..<Self.kills).map { k in third * k + Int.random(in: 1...third, using: &random) }
        var killsDone = 0
        var finished: [ContainerUUID: Container] = [:]
        var lastProgress = ContinuousClock.now
        // Until every container has finished and every kill is done: a poll that fails, or one slow enough for the
        // rest of the containers to finish meanwhile, can skip past the last thresholds; the kills still come (a
        // kill of a daemon with nothing left to run must leave nothing behind too).
        while finished.count < uuids.count || killsDone < Self.kills {
            try await Task.sleep(for: .milliseconds(100))
            let pending = uuids.filter { finished[$0] == nil }
            for batch in stride(from: 0, to: pending.count, by: 100) {
                let page = try? await client.containers(
                    filters: [
                        ArvadosFilter(
                            "uuid",
                            "in",
                            .array(pending[batch..<min(batch + 100, pending.count)].map { .string($0.rawValue) })
                        ),
                        ArvadosFilter("state", "in", .array([.string("Complete"), .string("Cancelled")])),
                    ],
                    limit: 1000
                )
                for container in page?.items ?? [] {
                    finished[container.uuid] = container
                    lastProgress = ContinuousClock.now
                }
            }
            if killsDone < Self.kills && finished.count >= killAt[killsDone] {
                daemon.process.signal(SIGKILL)
                _ = await daemon.process.wait()
                killsDone += 1
                daemon = try startServe()
                let up = await eventually(timeout: .seconds(60)) { try? await client.currentAuthorization() }
                try #require(up != nil, "serve did not come back: \(daemon.logText)")
            }
            if finished.count < uuids.count && ContinuousClock.now - lastProgress > .seconds(90) {
                Issue.record(
                    "no progress in 90 s with \(uuids.count - finished.count) left (seed \(seed)): \(daemon.logText.suffix(3000))"
                )
                return
            }
        }
        #expect(killsDone == Self.kills)
        let states = finished.values.map(\.state)
        #expect(
            states.allSatisfy { $0 == .complete },
            "\(states.count { $0 != .complete }) not Complete (seed \(seed))"
        )
        #expect(finished.values.allSatisfy { $0.exitCode == 0 })

        // Exactly one start per container.
        let names = try FileManager.default.contentsOfDirectory(atPath: markers)
        var starts: [Int: Int] = [:]
        for name in names {
            guard let dot = name.firstIndex(of: "."), let i = Int(name.dropFirst().prefix(upTo: dot)) else { continue }
            starts[i, default: 0] += 1
        }
        let twice = starts.filter { $0.value > 1 }.keys.sorted()
        let never = (0..<Self.containers).filter { starts[$0] == nil }
        #expect(twice.isEmpty, "started more than once: \(twice) (seed \(seed))")
        if !twice.isEmpty, let keep = ProcessInfo.processInfo.environment["KILL_RESTART_KEEP"] {
            for g in 1...generation {
                try? FileManager.default.copyItem(
                    atPath: directory.file("serve-\(g).log"),
                    toPath: "\(keep)/serve-\(g).log"
                )
            }
            try? "\(twice.map { uuids[$0].rawValue })".write(toFile: "\(keep)/twice", atomically: true, encoding: .utf8)
        }
        #expect(never.isEmpty, "never started: \(never) (seed \(seed))")

        // Idle instances time out and are destroyed: none is left in the cloud's records.
        let instancesDirectory = "\(cluster.dataDirectory)"
        let left = await eventually(timeout: .seconds(60), interval: .milliseconds(250)) { () async -> Bool? in
            let count = Self.instanceRecords(under: instancesDirectory)
            return count == 0 ? true : nil
        }
        #expect(left == true, "instances left: \(Self.instanceRecords(under: instancesDirectory))")
        daemon.process.signal(SIGTERM)
        #expect(await daemon.process.wait() == .exited(0), "\(daemon.logText.suffix(2000))")
        print(
            "kill-restart: \(Self.containers) containers, \(killsDone) kill -9 of serve after \(killAt) finished, "
                + "\(names.count) process starts, seed \(seed), \(ContinuousClock.now - started)"
        )
    }

    /// How many instance state directories the loopback cloud has under the data directory.
    static func instanceRecords(under data: String) -> Int {
        let enumerator = FileManager.default.enumerator(atPath: data)
        var count = 0
        while let path = enumerator?.nextObject() as? String {
            let parts = path.split(separator: "/")
            if parts.count >= 2, parts[parts.count - 2] == "instances" { count += 1 }
        }
        return count
    }

    /// A seeded generator, so a failing run can be replayed with `KILL_RESTART_SEED`.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64

        mutating func next() -> UInt64 {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
