import DispatchModel
import DispatchTestSupport
import Foundation
import ManagementAPI
import Testing

/// `dispatch-cloud instances …` and `dispatch-cloud containers kill`, run as an operator runs them.
@Suite("Admin commands")
struct InstanceCommandTests {
    static let dispatchCloud = ProcessRunner.product("dispatch-cloud")

    /// Runs the command against `server` with the URL and token from the environment.
    static func run(
        _ server: ManagementFixture,
        _ arguments: [String],
        token: String = ManagementFixture.token
    ) async throws -> ProcessOutput {
        try await ProcessRunner.run(
            Self.dispatchCloud,
            arguments,
            environment: [
                "DISPATCH_CLOUD_URL": server.baseURL.absoluteString,
                "DISPATCH_CLOUD_MANAGEMENT_TOKEN": token,
                "DISPATCH_CLOUD_CONFIG": "/nonexistent/config.yml",
            ]
        )
    }

    @Test("instances --header prints Arvados's tab-separated columns, with - for empty fields")
    func list() async throws {
        try await ManagementFixture.with { server in
            let result = try await Self.run(server, ["instances", "--header"])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(
                lines == [
                    "instance\taddress\tstate\tidle-behavior\tconfig-type\tprovider-type\tprice\trunning-containers",
                    "i-00000001\t10.0.0.1\trunning\trun\ttype1\tprovidertype1\t0.123000\tzzzzz-dz642-runningcontain1",
                    "i-00000002\t10.0.0.2\tidle\trun\ttype2\tprovidertype2\t0.246000\t-",
                    "i-00000003\t-\tbooting\trun\ttype1\tprovidertype1\t0.123000\t-",
                ]
            )
        }
    }

    @Test("The URL and token are read from the configuration when the environment does not give them")
    func fromConfiguration() async throws {
        try await ManagementFixture.with { server in
            let directory = try TemporaryDirectory(prefix: "mgmt-cli")
            defer { directory.remove() }
            let config = try directory.write(
                """
                Clusters:
                  zzzzz:
                    ManagementToken: \(ManagementFixture.token)
                    Services:
                      DispatchCloud:
                        InternalURLs:
                          "http://127.0.0.1:\(server.port)": {}
                """,
                to: "config.yml"
            )
            let result = try await ProcessRunner.run(
                Self.dispatchCloud,
                ["instances", "list", "--config", config]
            )
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout.split(separator: "\n").count == 3)
        }
    }

    @Test(
        "hold, drain and run change each instance and report per ID on standard error",
        arguments: IdleBehavior.allCases
    )
    func actions(behavior: IdleBehavior) async throws {
        try await ManagementFixture.with { server in
            let result = try await Self.run(server, ["instances", behavior.rawValue, "i-00000001", "i-00000002"])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(
                await server.control.calls == [
                    .setIdleBehavior("i-00000001", behavior), .setIdleBehavior("i-00000002", behavior),
                ]
            )
            #expect(result.stderr.contains("i-00000001: 200 OK (127.0.0.1:\(server.port))"))
        }
    }

    @Test("kill passes --reason, and an unknown ID makes the command fail with status 1")
    func kill() async throws {
        try await ManagementFixture.with { server in
            let result = try await Self.run(
                server,
                ["instances", "kill", "--reason", "bad disk", "i-00000002", "i-gone"]
            )
            #expect(result.status == 1)
            #expect(result.stderr.contains("i-gone: 404 instance not found"))
            #expect(
                await server.control.calls == [
                    .killInstance("i-00000002", reason: "via management API: bad disk"),
                    .killInstance("i-gone", reason: "via management API: bad disk"),
                ]
            )
        }
    }

    @Test("containers kill stops a running container and fails clearly for one that runs nowhere")
    func containerKill() async throws {
        try await ManagementFixture.with { server in
            let killed = try await Self.run(
                server,
                ["containers", "kill", "zzzzz-dz642-runningcontain1", "--reason", "x"]
            )
            #expect(killed.status == 0, "stderr: \(killed.stderr)")
            #expect(
                await server.control.calls == [
                    .killContainer("zzzzz-dz642-runningcontain1", reason: "via management API: x")
                ]
            )
            let unknown = try await Self.run(server, ["containers", "kill", "zzzzz-dz642-queuedcontainer"])
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("container not found"))
        }
    }

    @Test("A wrong or missing token is named as the problem, in one line")
    func badToken() async throws {
        try await ManagementFixture.with { server in
            let wrong = try await Self.run(server, ["instances"], token: "wrong")
            #expect(wrong.status == 1)
            #expect(wrong.stderr.contains("refused the management token"))
            #expect(!wrong.stderr.contains("wrong\n") && !wrong.stderr.contains(ManagementFixture.token))
            let hold = try await Self.run(server, ["instances", "hold", "i-00000001"], token: "wrong")
            #expect(hold.status == 1)
            #expect(hold.stderr.contains("refused the management token"))
            #expect(await server.control.calls.isEmpty)
        }
    }

    @Test("A dispatcher that is not listening is one line naming the URL")
    func connectionRefused() async throws {
        let port = try LoopbackPort.free()
        let result = try await ProcessRunner.run(
            Self.dispatchCloud,
            ["instances"],
            environment: [
                "DISPATCH_CLOUD_URL": "http://127.0.0.1:\(port)/",
                "DISPATCH_CLOUD_MANAGEMENT_TOKEN": "t",
            ]
        )
        #expect(result.status == 1)
        #expect(
            result.stderr
                == "error: cannot connect to the dispatcher at http://127.0.0.1:\(port)/: connection refused\n"
        )
    }

    @Test("Without a token anywhere the command says where to set one, with status 2")
    func noToken() async throws {
        let directory = try TemporaryDirectory(prefix: "mgmt-cli")
        defer { directory.remove() }
        let config = try directory.write("Clusters:\n  zzzzz:\n    SystemRootToken: x\n", to: "config.yml")
        let result = try await ProcessRunner.run(
            Self.dispatchCloud,
            ["instances", "--config", config, "--url", "http://127.0.0.1:1/"]
        )
        #expect(result.status == 2)
        #expect(result.stderr.contains("no management token"))
    }
}
