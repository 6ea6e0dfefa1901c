import RemoteExecution
import Testing

@testable import SSHExecutor

@Suite("Shell quoting, instance secrets and addresses")
struct RemoteExecutionTests {
    @Test(
        "Words are single-quoted with embedded quotes escaped",
        arguments: [
            ("plain", "'plain'"),
            ("", "''"),
            ("it's", #"'it'\''s'"#),
            ("$HOME `x` \"y\"", #"'$HOME `x` "y"'"#),
        ]
    )
    func quote(word: String, expected: String) {
        #expect(ShellQuote.quote(word) == expected)
    }

    @Test("Environment variables become sorted, quoted assignments before the command")
    func environmentPrefix() throws {
        let line = try ShellQuote.command("env", environment: ["B": "x y", "A": "it's"])
        #expect(line == #"A='it'\''s' B='x y' env"#)
        #expect(try ShellQuote.command("true", environment: [:]) == "true")
    }

    @Test("Invalid environment variable names are rejected", arguments: ["", "1A", "A-B", "A B", "A;rm"])
    func invalidName(name: String) {
        let error = #expect(throws: RemoteExecutionError.self) {
            try ShellQuote.command("true", environment: [name: "x"])
        }
        #expect(error?.code == .invalidArgument)
    }

    @Test("A generated instance secret is 40 lowercase hex digits and differs each time")
    func secretFormat() {
        let first = InstanceSecret.generate()
        let second = InstanceSecret.generate()
        #expect(first.rawValue.count == 40)
        #expect(first.rawValue.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(first != second)
        #expect(!"\(first)".contains(first.rawValue))
    }

    @Test("The init command and boot script match Arvados's")
    func initCommand() {
        let secret = InstanceSecret(rawValue: "0123456789abcdef0123456789abcdef01234567")
        #expect(
            secret.initCommand
                == #"umask 0177 && echo -n "0123456789abcdef0123456789abcdef01234567" >/var/run/arvados-instance-secret"#
        )
        #expect(secret.bootScript(instanceInitCommand: "echo hi") == secret.initCommand + "\necho hi")
    }

    @Test("The secret is read with sudo unless the remote user is root")
    func readCommand() {
        let secret = InstanceSecret.generate()
        #expect(
            InstanceSecretVerifier(expected: secret, remoteUser: "root").readCommand
                == "cat /var/run/arvados-instance-secret"
        )
        #expect(
            InstanceSecretVerifier(expected: secret, remoteUser: "admin").readCommand
                == "sudo cat /var/run/arvados-instance-secret"
        )
    }

    @Test(
        "Verification compares the host's answer with the secret exactly",
        arguments: [
            (CommandResult(stdout: Array("s3cret".utf8), exitStatus: 0), true),
            (CommandResult(stdout: Array("s3cret\n".utf8), exitStatus: 0), false),
            (CommandResult(stdout: Array("other".utf8), exitStatus: 0), false),
            (CommandResult(stdout: Array("s3cret".utf8), exitStatus: 1), false),
        ]
    )
    func verification(answer: CommandResult, trusted: Bool) async {
        let verifier = InstanceSecretVerifier(expected: InstanceSecret(rawValue: "s3cret"), remoteUser: "root")
        let runner = CannedRunner(result: answer)
        do {
            try await verifier.verify(over: runner)
            #expect(trusted)
        } catch let error as RemoteExecutionError {
            #expect(!trusted)
            #expect(error.code == .hostKeyRejected)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("An empty expected secret never verifies")
    func emptySecret() async {
        let verifier = InstanceSecretVerifier(expected: InstanceSecret(rawValue: ""), remoteUser: "root")
        await #expect(throws: RemoteExecutionError.self) {
            try await verifier.verify(over: CannedRunner(result: CommandResult(exitStatus: 0)))
        }
    }

    @Test(
        "Addresses parse into host and port",
        arguments: [
            ("10.1.2.3", "10.1.2.3", 22),
            ("10.1.2.3:2222", "10.1.2.3", 2222),
            ("host.example:8022", "host.example", 8022),
            ("[::1]:2200", "::1", 2200),
            ("[::1]", "::1", 22),
            ("fe80::1", "fe80::1", 22),
        ]
    )
    func address(text: String, host: String, port: Int) throws {
        let address = try DialAddress(text, defaultPort: 22)
        #expect(address.host == host)
        #expect(address.port == port)
    }

    @Test("Malformed addresses are rejected", arguments: ["host:", "host:0", "host:99999", ":22", "[::1", "[::1]x"])
    func badAddress(text: String) {
        #expect(throws: RemoteExecutionError.self) {
            try DialAddress(text, defaultPort: 22)
        }
    }

    @Test(
        "The loopback policy allows only loopback literals and localhost",
        arguments: [
            ("127.0.0.1", true), ("127.5.6.7", true), ("::1", true), ("localhost", true),
            ("10.0.0.1", false), ("0.0.0.0", false), ("::", false), ("128.0.0.1", false), ("localhost.", false),
        ]
    )
    func loopbackPolicy(host: String, allowed: Bool) {
        let dialled = try? DialPolicy.loopbackOnly.hostToDial(host)
        #expect((dialled != nil) == allowed)
        #expect((try? DialPolicy.unrestricted.hostToDial(host)) == host)
    }
}

/// Answers every command with the same result.
private struct CannedRunner: RemoteExecutor {
    var result: CommandResult

    func execute(environment: [String: String], command: String, stdin: [UInt8]) async throws -> CommandResult {
        self.result
    }
}
