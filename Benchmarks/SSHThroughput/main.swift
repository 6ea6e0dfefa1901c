// ssh-benchmark: commands per second through one SSH connection, and the memory of many simulated instances.
//
//   swift build -c release --product ssh-benchmark
//   .build/release/ssh-benchmark [--commands N] [--simulated-instances N]
//
// Connects only to 127.0.0.1. The OpenSSH part runs when /usr/sbin/sshd is installed.
//
// Measured on the 2-core dev machine (release build, `true` through one connection, 200 commands):
//   in-process SSHServer  389/s sequential, 590/s with 8 concurrent
//   OpenSSH sshd            4/s sequential,   9/s with 8 concurrent (not investigated; likely
//                           Nagle/delayed-ACK stalls on sshd's side of non-pty sessions)
//   10,000 simulated instances: created and listed in 0.45 s, RSS 28 → 37 MiB (~950 bytes each)
import CloudDriver
import CloudDriverSimulated
import Crypto
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import NIOSSH
import RemoteExecution
import SSHExecutor
import SSHServer

/// Trusts exactly one host key.
struct PinnedTarget: ExecutorTarget {
    var address: String
    var hostKey: HostKey
    var remoteUser: String { NSUserName() }

    func verifyHostKey(_ hostKey: HostKey, over connection: some RemoteExecutor) async throws {
        guard hostKey == self.hostKey else {
            throw RemoteExecutionError(code: .hostKeyRejected, message: "unexpected host key")
        }
    }
}

func argument(_ name: String, default value: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return value }
    return Int(arguments[index + 1]) ?? value
}

/// Commands per second: `count` runs of `true`, `concurrency` at a time, through one executor.
func measure(_ executor: SSHExecutor<PinnedTarget>, count: Int, concurrency: Int) async throws -> Double {
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<concurrency {
            group.addTask {
                for _ in stride(from: worker, to: count, by: concurrency) {
                    let result = try await executor.execute("true")
                    guard result.succeeded else { throw TestSupportError("true failed: \(result.stderrText)") }
                }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(count) / seconds
}

func report(_ label: String, _ executor: SSHExecutor<PinnedTarget>, count: Int) async throws {
    _ = try await executor.execute("true")  // connect and verify outside the measurement
    let sequential = try await measure(executor, count: count, concurrency: 1)
    let concurrent = try await measure(executor, count: count, concurrency: 8)
    print(
        "\(label): \(String(format: "%.0f", sequential)) commands/s sequential, "
            + "\(String(format: "%.0f", concurrent)) commands/s with 8 concurrent (\(count) commands each)"
    )
}

/// The resident set size of this process, from /proc/self/status.
func residentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return kilobytes * 1024
    }
    return 0
}

let commands = argument("--commands", default: 2000)
let simulatedInstances = argument("--simulated-instances", default: 10_000)
let clientKey = NIOSSHPrivateKey(ed25519Key: Curve25519.Signing.PrivateKey())
var configuration = SSHExecutor<PinnedTarget>.Configuration()
configuration.connectTimeout = .seconds(10)
configuration.authTimeout = .seconds(10)

// The in-process server.
let hostKey = NIOSSHPrivateKey(ed25519Key: Curve25519.Signing.PrivateKey())
let server = try await SSHServer.start(
    configuration: SSHServer.Configuration(hostKey: hostKey, authorizedKeys: [clientKey.publicKey])
)
let inProcess = SSHExecutor(
    target: PinnedTarget(
        address: "127.0.0.1:\(server.port)",
        hostKey: HostKey(openSSHString: String(openSSHPublicKey: hostKey.publicKey))
    ),
    privateKey: clientKey,
    dialPolicy: .loopbackOnly,
    configuration: configuration
)
try await report("in-process SSHServer", inProcess, count: commands)
await inProcess.close()
await server.stop()

// The system's sshd.
if OpenSSHDaemon.isInstalled {
    let directory = try TemporaryDirectory(prefix: "ssh-benchmark")
    let sshd = try await OpenSSHDaemon.start(
        authorizedKeys: [OpenSSHPrivateKey.authorizedKeysLine(for: clientKey)],
        in: directory
    )
    let hostLine = sshd.hostPublicKeyLine.split(separator: " ").prefix(2).joined(separator: " ")
    let openSSH = SSHExecutor(
        target: PinnedTarget(address: "127.0.0.1:\(sshd.port)", hostKey: HostKey(openSSHString: hostLine)),
        privateKey: clientKey,
        dialPolicy: .loopbackOnly,
        configuration: configuration
    )
    do {
        try await report("OpenSSH sshd", openSSH, count: commands)
    } catch {
        print("OpenSSH sshd: failed: \(error)\n\(sshd.log)")
    }
    await openSSH.close()
    sshd.stop()
    directory.remove()
} else {
    print("OpenSSH sshd: skipped (\(OpenSSHDaemon.path) is not installed)")
}

// Memory of many simulated instances.
if simulatedInstances > 0 {
    var parameters = SimulatedCloudParameters()
    parameters.bootTime = .init(min: .zero, max: .zero)
    parameters.seed = 1
    let cloud = SimulatedCloud(parameters: parameters, clock: ContinuousClock(), logger: Logger(label: "benchmark"))
    let type = InstanceType(
        name: InstanceTypeName(rawValue: "small"),
        vcpus: 1,
        ram: .giB(1),
        includedScratch: .giB(2),
        price: 0.01
    )
    let before = residentBytes()
    let start = ContinuousClock.now
    for number in 0..<simulatedInstances {
        _ = try await cloud.create(
            type: type,
            imageID: ImageID(rawValue: "image"),
            tags: [
                "ArvadosInstanceSetID": "zzzzz-zzzzz-benchmark", "ArvadosInstanceType": "small",
                "ArvadosIdleBehavior": "run", "ArvadosInstanceSecret": InstanceSecret.generate().rawValue,
                "Number": String(number),
            ],
            initCommand: "",
            publicKey: nil
        )
    }
    let listed = try await cloud.instances(tagged: [:]).count
    let elapsed = ContinuousClock.now - start
    let after = residentBytes()
    print(
        "simulated driver: \(listed) instances created and listed in \(elapsed); resident memory "
            + "\(before / 1_048_576) MiB → \(after / 1_048_576) MiB "
            + "(\((after - before) / max(listed, 1)) bytes per instance)"
    )
    await cloud.stop()
}
