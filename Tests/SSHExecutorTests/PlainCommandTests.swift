import Crypto
import DispatchTestSupport
import Foundation
import NIOSSH
import RemoteExecution
import SSHExecutor
import Testing

@testable import SSHServer

/// The in-process server runs plain command lines without a shell, and everything else with one.
@Suite("Plain commands")
struct PlainCommandTests {
    @Test(
        "Plain command lines split into words; anything a shell would interpret does not",
        arguments: [
            ("/opt/r/crunch-run~ab12 --list", ["/opt/r/crunch-run~ab12", "--list"]),
            (
                "/d/crunch-run~x --detach --stdin-config '--runtime-engine=process' 'zzzzz-dz642-0123456789abcde'",
                [
                    "/d/crunch-run~x", "--detach", "--stdin-config", "--runtime-engine=process",
                    "zzzzz-dz642-0123456789abcde",
                ]
            ),
            ("/bin/echo  'a b'  c=d ''", ["/bin/echo", "a b", "c=d", ""]),
            ("/bin/echo 'it'\\''s'", nil),
            ("/bin/echo $HOME", nil),
            ("/bin/echo \"x\"", nil),
            ("/bin/echo a; rm -rf /", nil),
            ("/bin/echo a > f", nil),
            ("/bin/echo *", nil),
            ("/bin/echo ~", nil),
            ("/bin/echo a=~/x", nil),
            ("/bin/echo 'unterminated", nil),
            ("echo relative", nil),
            ("FOO=bar /bin/env", nil),
            ("", nil),
        ] as [(String, [String]?)]
    )
    func words(command: String, expected: [String]?) {
        #expect(ChildProcess.plainWords(command) == expected)
    }

    @Test("A plain command runs in the working directory with the environment; a missing program fails as in sh")
    func runsDirectly() async throws {
        let directory = try TemporaryDirectory(prefix: "ssh-plain")
        defer { directory.remove() }
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
        let resolved = URL(fileURLWithPath: directory.path).resolvingSymlinksInPath().path
        #expect(try await executor.execute("/bin/pwd").stdoutText == "\(resolved)\n")
        #expect(try await executor.execute("/usr/bin/printf '%s|' 'a b' c=d ''").stdoutText == "a b|c=d||")
        let environment = try await executor.execute("/usr/bin/env").stdoutText
        #expect(environment.split(separator: "\n").contains("INSTANCE_NAME=loopback-1"))
        let missing = try await executor.execute("/nonexistent/program --flag")
        #expect(missing.exitStatus == 127)
        #expect(missing.stderrText.contains("not found"))
        await executor.close()
        await server.stop()
    }
}
