import Crypto
import DispatchTestSupport
import Foundation
import NIOPosix
import NIOSSH
import RemoteExecution
import SSHServer
import Testing

@testable import SSHExecutor

/// In CI (CI=true) a missing sshd is a failure; elsewhere the suite is skipped without it.
private let sshdAvailableOrRequired =
    OpenSSHDaemon.isInstalled || ProcessInfo.processInfo.environment["CI"] == "true"

@Suite(
    "SSH executor against the system OpenSSH server",
    .enabled(if: sshdAvailableOrRequired, "/usr/sbin/sshd is not installed (apt-get install -y openssh-server)")
)
struct OpenSSHInteropTests {
    @Test("Commands run through sshd with output, status, signal, stdin, environment and queued sessions")
    func commands() async throws {
        try #require(OpenSSHDaemon.isInstalled, "\(OpenSSHDaemon.path) is missing: install Debian's openssh-server")
        let directory = try TemporaryDirectory(prefix: "sshd-interop")
        defer { directory.remove() }
        let clientPair = try await SSHKeygen.generate(type: "ed25519", in: directory, name: "id_ed25519")
        let sshd = try await OpenSSHDaemon.start(authorizedKeys: [clientPair.publicKeyLine], in: directory)
        defer { sshd.stop() }

        let hostKey = try NIOSSHPublicKey(openSSHPublicKey: sshd.hostPublicKeyLine)
        let target = TestTarget.pinned(to: hostKey, address: "127.0.0.1:\(sshd.port)")
        let executor = SSHExecutor(
            target: target,
            privateKey: try OpenSSHPrivateKey.load(from: "file://" + clientPair.privateKeyPath),
            dialPolicy: .loopbackOnly
        )

        let clock = ContinuousClock()
        var first = CommandResult()
        let connectAndFirstCommand = try await clock.measure {
            first = try await executor.execute("true")
        }
        #expect(first.exitStatus == 0, "sshd log: \(sshd.log)")

        let output = try await executor.execute("echo out; echo err >&2; exit 3")
        #expect(output.stdoutText == "out\n")
        #expect(output.stderrText == "err\n")
        #expect(output.exitStatus == 3)

        let signalled = try await executor.execute("kill -TERM $$")
        #expect(signalled.exitSignal == "TERM")
        #expect(signalled.exitStatus == nil)

        let input = [UInt8](repeating: UInt8(ascii: "z"), count: 1_000_000)
        let counted = try await executor.execute(
            environment: ["LABEL": "it's"],
            command: #"sh -c 'printf "%s " "$LABEL"; wc -c'"#,
            stdin: input
        )
        #expect(counted.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "it's 1000000")

        // sshd allows 10 sessions per connection; 16 at once must queue behind the executor's cap of 8.
        let outputs = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<16 {
                group.addTask { try await executor.execute("echo \(i)").stdoutText }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(outputs == Set((0..<16).map { "\($0)\n" }))
        #expect(target.verifications.count == 1)

        // Figures for people (no assertions): the handshake alone, then commands on an open connection.
        let sequential = 10
        let perCommand =
            try await clock.measure {
                for _ in 0..<sequential {
                    _ = try await executor.execute("true")
                }
            } / sequential
        let key = try OpenSSHPrivateKey.load(from: clientPair.privateKeyPath)
        var handshake = Duration.zero
        for _ in 0..<5 {
            var connection: SSHConnection?
            handshake += try await clock.measure {
                connection = try await SSHConnection.connect(
                    to: DialAddress(host: "127.0.0.1", port: sshd.port),
                    username: "root",
                    privateKey: key,
                    connectTimeout: .seconds(10),
                    authTimeout: .seconds(10),
                    group: MultiThreadedEventLoopGroup.singleton
                )
            }
            await connection?.close()
        }
        print(
            "sshd interop: connect+auth \(handshake / 5), first command incl. dial \(connectAndFirstCommand), "
                + "per command \(perCommand)"
        )
        await executor.close()
    }

    @Test("An ECDSA client key authenticates to sshd and a wrong host key is rejected")
    func ecdsaKeyAndHostKeyCheck() async throws {
        try #require(OpenSSHDaemon.isInstalled, "\(OpenSSHDaemon.path) is missing: install Debian's openssh-server")
        let directory = try TemporaryDirectory(prefix: "sshd-interop")
        defer { directory.remove() }
        let clientPair = try await SSHKeygen.generate(type: "ecdsa", bits: 384, in: directory, name: "id_ecdsa")
        let sshd = try await OpenSSHDaemon.start(authorizedKeys: [clientPair.publicKeyLine], in: directory)
        defer { sshd.stop() }
        let key = try OpenSSHPrivateKey.load(from: clientPair.privateKeyPath)
        let hostKey = try NIOSSHPublicKey(openSSHPublicKey: sshd.hostPublicKeyLine)

        let good = SSHExecutor(
            target: TestTarget.pinned(to: hostKey, address: "127.0.0.1:\(sshd.port)"),
            privateKey: key,
            dialPolicy: .loopbackOnly
        )
        #expect(try await good.execute("echo ok").stdoutText == "ok\n", "sshd log: \(sshd.log)")
        await good.close()

        let marker = directory.file("marker")
        let wrongHost = SSHExecutor(
            target: TestTarget.pinned(
                to: NIOSSHPrivateKey(ed25519Key: .init()).publicKey,
                address: "127.0.0.1:\(sshd.port)"
            ),
            privateKey: key,
            dialPolicy: .loopbackOnly
        )
        let error = await #expect(throws: RemoteExecutionError.self) {
            try await wrongHost.execute("touch \(marker)")
        }
        #expect(error?.code == .hostKeyRejected)
        #expect(!FileManager.default.fileExists(atPath: marker))
        await wrongHost.close()
    }

    @Test("The system OpenSSH client runs commands on the in-process server")
    func openSSHClientAgainstServer() async throws {
        let directory = try TemporaryDirectory(prefix: "ssh-client-interop")
        defer { directory.remove() }
        let clientPair = try await SSHKeygen.generate(type: "ecdsa", bits: 256, in: directory, name: "id_ecdsa")
        let clientKey = try OpenSSHPrivateKey.load(from: clientPair.privateKeyPath)
        let server = try await SSHServer.start(
            configuration: SSHServer.Configuration(
                hostKey: NIOSSHPrivateKey(ed25519Key: .init()),
                authorizedKeys: [clientKey.publicKey]
            )
        )
        let output = try await LocalProcess.run(
            "/usr/bin/ssh",
            [
                "-F", "/dev/null", "-i", clientPair.privateKeyPath, "-p", String(server.port),
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "SetEnv=IGNORED=1", "root@127.0.0.1", "echo out; echo err >&2; exit 4",
            ]
        )
        #expect(output.status == 4)
        #expect(output.stdout == "out\n")
        #expect(output.stderr.hasSuffix("err\n"))
        await server.stop()
    }
}
