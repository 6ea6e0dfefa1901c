import DispatchModel
import Testing

@testable import WorkerPool

@Suite("Remote commands")
struct RemoteCommandsTests {
    static let runner = "/tmp/arvados-crunch-run/crunch-run~0123456789abcdef0123456789abcdef"
    static let uuid: ContainerUUID = "zzzzz-dz642-000000000000001"

    struct Case: Sendable, CustomTestStringConvertible {
        var user: String
        var build: @Sendable (RemoteCommands) -> String
        var expected: String
        var testDescription: String { "\(self.user): \(self.expected)" }
    }

    static let cases: [Case] = [
        Case(user: "root", build: { $0.list(withPrices: false) }, expected: "\(runner) --list"),
        Case(user: "admin", build: { $0.list(withPrices: false) }, expected: "sudo \(runner) --list"),
        Case(user: "root", build: { $0.list(withPrices: true) }, expected: "\(runner) --list --stdin-prices"),
        Case(user: "root", build: { $0.kill(uuid) }, expected: "\(runner) --kill 15 \(uuid)"),
        Case(user: "admin", build: { $0.kill(uuid) }, expected: "sudo \(runner) --kill 15 \(uuid)"),
        Case(user: "admin", build: { $0.md5sum }, expected: "md5sum \(runner)"),
        Case(
            user: "root",
            build: { $0.detach(uuid, runtimeEngine: "docker", arguments: ["--foo", "--extra='args'"]) },
            expected:
                "\(runner) --detach --stdin-config '--runtime-engine=docker' '--foo' '--extra='\\''args'\\''' '\(uuid)'"
        ),
        Case(
            user: "admin",
            build: { $0.detach(uuid, runtimeEngine: "singularity", arguments: []) },
            expected: "sudo \(runner) --detach --stdin-config '--runtime-engine=singularity' '\(uuid)'"
        ),
        Case(
            user: "root",
            build: { $0.deploy },
            expected:
                "set -e; dstdir=\"/tmp/arvados-crunch-run/\"; dstfile=\"\(runner)\"; mkdir -p \"$dstdir\"; touch \"$dstfile\"; chmod 0755 \"$dstdir\" \"$dstfile\"; cat >\"$dstfile\""
        ),
        Case(
            user: "admin",
            build: { $0.deploy },
            expected:
                "sudo sh -c 'set -e; dstdir=\"/tmp/arvados-crunch-run/\"; dstfile=\"\(runner)\"; mkdir -p \"$dstdir\"; touch \"$dstfile\"; chmod 0755 \"$dstdir\" \"$dstfile\"; cat >\"$dstfile\"'"
        ),
    ]

    @Test("Runner command lines match Arvados's", arguments: Self.cases)
    func commandLines(_ row: Case) {
        #expect(row.build(RemoteCommands(runner: Self.runner, remoteUser: row.user)) == row.expected)
    }

    @Test("The init command writes the secret, then the operator's command")
    func initCommand() {
        #expect(
            RemoteCommands.initCommand(secret: "abc123", instanceInitCommand: "echo hello")
                == "umask 0177 && echo -n \"abc123\" >/var/run/arvados-instance-secret\necho hello"
        )
    }

    @Test("The deployed runner path is crunch-run~<md5> under the directory", arguments: ["/opt/r", "/opt/r/"])
    func deployedPath(_ directory: String) {
        #expect(RemoteCommands.deployedRunnerPath(directory: directory, md5Hex: "ff") == "/opt/r/crunch-run~ff")
    }

    @Test("The gateway auth secret is the hex HMAC-SHA256 of the UUID keyed by the root token")
    func gatewayAuthSecret() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        #expect(
            Digests.gatewayAuthSecret(uuid: "what do ya want for nothing?", systemRootToken: "Jefe")
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        )
    }

    @Test("The runner MD5 is md5sum's")
    func md5() {
        #expect(Digests.md5Hex(Array("abc".utf8)) == "900150983cd24fb0d6963f7d28e17f72")
    }

    @Test("Instance secrets are 40 hex digits and differ")
    func secrets() {
        let first = Digests.randomSecret()
        #expect(first.count == 40 && first.allSatisfy(\.isHexDigit))
        #expect(first != Digests.randomSecret())
    }
}
