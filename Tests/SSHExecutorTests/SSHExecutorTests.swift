import Crypto
import DispatchTestSupport
import Foundation
import NIOSSH
import RemoteExecution
import SSHExecutor
import SSHServer
import Testing

@Suite("SSH executor against the in-process SSH server")
struct SSHExecutorTests {
    @Test("A command's stdout, stderr and exit status come back")
    func outputAndStatus() async throws {
        let fixture = try await SSHFixture()
        let executor = fixture.executor(fixture.pinnedTarget)
        let result = try await executor.execute("echo out; echo err >&2; exit 3")
        #expect(result.stdoutText == "out\n")
        #expect(result.stderrText == "err\n")
        #expect(result.exitStatus == 3)
        #expect(result.exitSignal == nil)
        await executor.close()
        await fixture.tearDown()
    }

    @Test("Standard input reaches the command and environment variables are quoted safely")
    func stdinAndEnvironment() async throws {
        let fixture = try await SSHFixture()
        let executor = fixture.executor(fixture.pinnedTarget)
        let result = try await executor.execute(
            environment: ["GREETING": "it's \"quoted\" $HOME `x` \\", "EMPTY": ""],
            // The assignments reach the environment of the command's first program (here a shell).
            command: #"sh -c 'printf "%s|%s|" "$GREETING" "$EMPTY"; cat'"#,
            stdin: Array("from stdin".utf8)
        )
        #expect(result.stdoutText == #"it's "quoted" $HOME `x` \||from stdin"#)
        #expect(result.exitStatus == 0)
        await executor.close()
        await fixture.tearDown()
    }

    @Test("A command killed by a signal reports the signal name and no exit status")
    func exitSignal() async throws {
        let fixture = try await SSHFixture()
        let executor = fixture.executor(fixture.pinnedTarget)
        let result = try await executor.execute("kill -TERM $$")
        #expect(result.exitSignal == "TERM")
        #expect(result.exitStatus == nil)
        await executor.close()
        await fixture.tearDown()
    }

    @Test("Large output and large input arrive intact")
    func largeStreams() async throws {
        let fixture = try await SSHFixture()
        let executor = fixture.executor(fixture.pinnedTarget)
        let output = try await executor.execute("head -c 5000000 /dev/zero | tr '\\0' x")
        #expect(output.stdout.count == 5_000_000)
        #expect(output.stdout.allSatisfy { $0 == UInt8(ascii: "x") })
        let input = [UInt8](repeating: UInt8(ascii: "y"), count: 3_000_000)
        let counted = try await executor.execute(environment: [:], command: "wc -c", stdin: input)
        #expect(counted.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "3000000")
        await executor.close()
        await fixture.tearDown()
    }

    @Test("More concurrent commands than the cap all succeed on one connection, at most cap at a time")
    func concurrencyCap() async throws {
        let fixture = try await SSHFixture()
        let cap = 3
        let executor = fixture.executor(fixture.pinnedTarget) { $0.maxConcurrentCommands = cap }
        let directory = fixture.directory.path
        let results = try await withThrowingTaskGroup(of: (Int, CommandResult).self) { group in
            for i in 0..<20 {
                group.addTask {
                    // Each command registers itself, counts the registered commands, and unregisters.
                    let command = """
                        mkdir \(directory)/running.\(i) && ls \(directory) | grep -c running; \
                        rmdir \(directory)/running.\(i); echo done \(i)
                        """
                    return (i, try await executor.execute(command))
                }
            }
            return try await group.reduce(into: [Int: CommandResult]()) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 20)
        for (i, result) in results {
            let lines = result.stdoutText.split(separator: "\n")
            #expect(lines.last.map(String.init) == "done \(i)")
            let running = lines.first.flatMap { Int($0) } ?? Int.max
            #expect(running <= cap)
        }
        #expect(fixture.server.acceptedConnectionCount == 1)
        await executor.close()
        await fixture.tearDown()
    }

    @Test("After the server restarts on the same port, the next command reconnects without re-verifying")
    func reconnectAfterRestart() async throws {
        var fixture = try await SSHFixture()
        let target = fixture.pinnedTarget
        let executor = fixture.executor(target)
        #expect(try await executor.execute("echo one").stdoutText == "one\n")
        try await fixture.restartServer()
        #expect(try await executor.execute("echo two").stdoutText == "two\n")
        #expect(fixture.server.acceptedConnectionCount == 1)
        #expect(target.verifications.count == 1)
        await executor.close()
        await fixture.tearDown()
    }

    @Test("After a failed dial, the next command dials again")
    func redialAfterFailure() async throws {
        let fixture = try await SSHFixture()
        let port = try LoopbackPort.free()
        let target = TestTarget.pinned(to: fixture.hostKey.publicKey, address: "127.0.0.1:\(port)")
        let executor = fixture.executor(target)
        let error = await #expect(throws: RemoteExecutionError.self) {
            try await executor.execute("true")
        }
        #expect(error?.code == .connectFailed)
        let server = try await SSHFixture.startServer(
            SSHFixture.configuration(fixture.hostKey, fixture.clientKey, port: port)
        )
        #expect(try await executor.execute("echo up").stdoutText == "up\n")
        await executor.close()
        await server.stop()
        await fixture.tearDown()
    }

    @Test("Cancelling a running command closes its session and the server stops its processes")
    func cancellation() async throws {
        let fixture = try await SSHFixture()
        let executor = fixture.executor(fixture.pinnedTarget)
        let pidFile = fixture.directory.file("sleep.pid")
        let task = Task {
            try await executor.execute("sleep 60 & echo $! > \(pidFile).tmp && mv \(pidFile).tmp \(pidFile); wait")
        }
        try await waitUntil { FileManager.default.fileExists(atPath: pidFile) }
        let pid = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(processIsAlive(pid))
        task.cancel()
        await #expect(throws: (any Error).self) {
            try await task.value
        }
        try await waitUntil { !processIsAlive(pid) }
        // The connection is still usable for the next command.
        #expect(try await executor.execute("echo next").stdoutText == "next\n")
        await executor.close()
        await fixture.tearDown()
    }

    @Test("A rejected host key means the command never runs")
    func badHostKey() async throws {
        let fixture = try await SSHFixture()
        let otherKey = NIOSSHPrivateKey(ed25519Key: .init())
        let target = TestTarget.pinned(to: otherKey.publicKey, address: fixture.address)
        let executor = fixture.executor(target)
        let marker = fixture.directory.file("marker")
        let error = await #expect(throws: RemoteExecutionError.self) {
            try await executor.execute("touch \(marker)")
        }
        #expect(error?.code == .hostKeyRejected)
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(await executor.verifiedHostKeyString == nil)
        await executor.close()
        await fixture.tearDown()
    }

    @Test("A client key the server does not authorize fails with an authentication error")
    func wrongClientKey() async throws {
        let fixture = try await SSHFixture()
        let executor = fixture.executor(fixture.pinnedTarget, key: NIOSSHPrivateKey(ed25519Key: .init()))
        let error = await #expect(throws: RemoteExecutionError.self) {
            try await executor.execute("true")
        }
        #expect(error?.code == .authFailed)
        await executor.close()
        await fixture.tearDown()
    }

    @Test(
        "The loopback-only policy refuses other addresses before dialling",
        arguments: ["10.0.0.1", "10.0.0.1:22", "[2001:db8::1]:22", "example.com:2222", "127.0.0.1.example.com"]
    )
    func loopbackOnly(address: String) async throws {
        let fixture = try await SSHFixture()
        let target = TestTarget(address: address) { _, _ in }
        let executor = fixture.executor(target) { $0.connectTimeout = .milliseconds(1) }
        let error = await #expect(throws: RemoteExecutionError.self) {
            try await executor.execute("true")
        }
        #expect(error?.code == .addressNotAllowed)
        await executor.close()
        await fixture.tearDown()
    }

    @Test("A target without an address fails with noAddress")
    func noAddress() async throws {
        let fixture = try await SSHFixture()
        let executor = fixture.executor(TestTarget(address: "") { _, _ in })
        let error = await #expect(throws: RemoteExecutionError.self) {
            try await executor.execute("true")
        }
        #expect(error?.code == .noAddress)
        await fixture.tearDown()
    }

    @Test("A server that never completes the handshake hits the authentication timeout")
    func authTimeout() async throws {
        let fixture = try await SSHFixture()
        let silent = try SilentListener()
        let target = TestTarget(address: "127.0.0.1:\(silent.port)") { _, _ in }
        let executor = fixture.executor(target) { $0.authTimeout = .milliseconds(200) }
        let error = await #expect(throws: RemoteExecutionError.self) {
            try await executor.execute("true")
        }
        #expect(error?.code == .timedOut)
        silent.close()
        await fixture.tearDown()
    }

    @Test("Nothing listening on the port fails with connectFailed")
    func connectionRefused() async throws {
        let fixture = try await SSHFixture()
        let port = try LoopbackPort.free()
        let executor = fixture.executor(TestTarget(address: "127.0.0.1:\(port)") { _, _ in })
        let error = await #expect(throws: RemoteExecutionError.self) {
            try await executor.execute("true")
        }
        #expect(error?.code == .connectFailed)
        await fixture.tearDown()
    }

    @Test("A closed executor refuses commands")
    func closed() async throws {
        let fixture = try await SSHFixture()
        let executor = fixture.executor(fixture.pinnedTarget)
        _ = try await executor.execute("true")
        await executor.close()
        let error = await #expect(throws: RemoteExecutionError.self) {
            try await executor.execute("true")
        }
        #expect(error?.code == .closed)
        await fixture.tearDown()
    }

    @Test("The right instance secret makes the host trusted and pins its key")
    func instanceSecretAccepted() async throws {
        var fixture = try await SSHFixture()
        let secret = InstanceSecret.generate()
        let path = fixture.directory.file("instance-secret")
        // What the instance's boot script does.
        let boot = try await LocalProcess.run("/bin/sh", ["-c", secret.initCommand(path: path)])
        #expect(boot.status == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)

        let target = TestTarget.secret(secret, path: path, address: fixture.address)
        let executor = fixture.executor(target)
        #expect(try await executor.execute("echo trusted").stdoutText == "trusted\n")
        #expect(await executor.verifiedHostKeyString == String(openSSHPublicKey: fixture.hostKey.publicKey))
        #expect(target.verifications.count == 1)

        // A new connection presenting the pinned key is not verified again.
        try await fixture.restartServer()
        #expect(try await executor.execute("echo again").stdoutText == "again\n")
        #expect(target.verifications.count == 1)
        await executor.close()
        await fixture.tearDown()
    }

    @Test("A wrong instance secret rejects the host and the command never runs")
    func instanceSecretRejected() async throws {
        let fixture = try await SSHFixture()
        let path = fixture.directory.file("instance-secret")
        let boot = try await LocalProcess.run("/bin/sh", ["-c", InstanceSecret.generate().initCommand(path: path)])
        #expect(boot.status == 0)
        let target = TestTarget.secret(InstanceSecret.generate(), path: path, address: fixture.address)
        let executor = fixture.executor(target)
        let marker = fixture.directory.file("marker")
        let error = await #expect(throws: RemoteExecutionError.self) {
            try await executor.execute("touch \(marker)")
        }
        #expect(error?.code == .hostKeyRejected)
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(await executor.verifiedHostKeyString == nil)
        await executor.close()
        await fixture.tearDown()
    }

    @Test("Commands inherit only their standard streams, not the server's sockets")
    func noInheritedDescriptors() async throws {
        let fixture = try await SSHFixture()
        let executor = fixture.executor(fixture.pinnedTarget)
        let result = try await executor.execute("ls /proc/$$/fd")
        #expect(result.stdoutText.split(separator: "\n") == ["0", "1", "2"])
        await executor.close()
        await fixture.tearDown()
    }

    @Test("The server runs commands in its working directory with its extra environment")
    func serverEnvironment() async throws {
        let directory = try TemporaryDirectory(prefix: "ssh-server-env")
        let hostKey = NIOSSHPrivateKey(ed25519Key: .init())
        let clientKey = NIOSSHPrivateKey(ed25519Key: .init())
        var configuration = SSHFixture.configuration(hostKey, clientKey, port: 0)
        configuration.workingDirectory = directory.path
        configuration.environment = ["INSTANCE_NAME": "loopback-1"]
        let server = try await SSHServer.start(configuration: configuration)
        let executor = SSHExecutor(
            target: TestTarget.pinned(to: hostKey.publicKey, address: "localhost:\(server.port)"),
            privateKey: clientKey,
            dialPolicy: .loopbackOnly
        )
        let result = try await executor.execute("pwd; echo $INSTANCE_NAME")
        let resolved = URL(fileURLWithPath: directory.path).resolvingSymlinksInPath().path
        #expect(result.stdoutText == "\(resolved)\nloopback-1\n")
        await executor.close()
        await server.stop()
        directory.remove()
    }
}

/// Polls `condition` (bounded: 400 tries, 25 ms apart) until it holds.
func waitUntil(_ condition: () -> Bool) async throws {
    for _ in 0..<400 {
        if condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("condition not met after 10 seconds")
}

/// Whether `/proc/<pid>` shows a process that has not exited (a zombie counts as exited).
func processIsAlive(_ pid: String) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
}
