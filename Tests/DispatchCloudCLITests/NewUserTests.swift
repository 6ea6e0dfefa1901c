import ArvadosAPI
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

/// What a new user met following the README (issue 16), each through the built `dispatch-cloud`, against a real
/// embedded container API.
@Suite("A new user's command line")
struct NewUserTests {
    static let dispatchCloud = ProcessRunner.product("dispatch-cloud")

    /// Runs `dispatch-cloud` with a home of its own (no settings or configuration files) and `environment`.
    static func run(
        _ arguments: [String],
        home: TemporaryDirectory,
        environment: [String: String] = [:]
    ) async throws -> ProcessOutput {
        var merged = [
            "HOME": home.path, "XDG_CONFIG_HOME": home.path + "/.config", "ARVADOS_API_HOST": "",
            "ARVADOS_API_TOKEN": "", "DISPATCH_CLOUD_CONFIG": "", "DISPATCH_CLOUD_URL": "",
            "DISPATCH_CLOUD_MANAGEMENT_TOKEN": "", "ARVADOS_API_HOST_INSECURE": "", "ARVADOS_API_CA": "",
        ]
        merged.merge(environment) { $1 }
        return try await ProcessRunner.run(Self.dispatchCloud, arguments, environment: merged)
    }

    static func apiEnvironment(_ api: EmbeddedContainerAPI, token: String? = nil) -> [String: String] {
        ["ARVADOS_API_HOST": api.url.absoluteString, "ARVADOS_API_TOKEN": token ?? api.rootToken]
    }

    static func lines(_ text: String) -> [Substring] { text.split(separator: "\n") }

    // 1. cancel of a Locked or Running container by its owner.

    @Test("cancel of a Running container by its owner sets priority 0 instead of failing with 403")
    func cancelRunningAsOwner() async throws {
        let home = try TemporaryDirectory(prefix: "cli-home")
        defer { home.remove() }
        try await EmbeddedContainerAPI.with { api in
            let owner = try #require(api.submitterTokens.first)
            let ownerClient = ArvadosClient(baseURL: api.url, token: owner)
            let container = try await ownerClient.createContainer([
                "command": .array([.string("sleep"), .string("300")]), "container_image": .string("process"),
                "output_path": .string("/tmp"), "priority": .int(1),
                "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(256 << 20)]),
            ])
            _ = try await api.rootClient.lockContainer(container.uuid)
            _ = try await api.rootClient.updateContainer(container.uuid, ["state": .string("Running")])

            let result = try await Self.run(
                ["cancel", "--no-wait", container.uuid.rawValue],
                home: home,
                environment: Self.apiEnvironment(api, token: owner)
            )
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(!result.stderr.contains("403"), "\(result.stderr)")
            #expect(result.stdout.contains("priority 0"), "\(result.stdout)")
            let after = try await api.rootClient.container(container.uuid)
            #expect(after.priority == 0)
            #expect(after.state == .running)

            // Once the runner has finalized it (as the dispatcher's kill makes it do), a second cancel says so.
            _ = try await api.rootClient.updateContainer(container.uuid, ["state": .string("Cancelled")])
            let again = try await Self.run(
                ["cancel", container.uuid.rawValue],
                home: home,
                environment: Self.apiEnvironment(api, token: owner)
            )
            #expect(again.status == 0, "stderr: \(again.stderr)")
            #expect(again.stdout.contains("Cancelled"))

            // A container that completed cannot be cancelled: exit 1, saying how it ended.
            let done = try await api.createContainer(command: ["true"])
            _ = try await api.rootClient.lockContainer(done.uuid)
            _ = try await api.rootClient.updateContainer(done.uuid, ["state": .string("Running")])
            _ = try await api.rootClient.updateContainer(
                done.uuid,
                ["state": .string("Complete"), "exit_code": .int(0)]
            )
            let late = try await Self.run(
                ["cancel", done.uuid.rawValue],
                home: home,
                environment: Self.apiEnvironment(api)
            )
            #expect(late.status == 1)
            #expect(late.stderr.contains("ended Complete"), "\(late.stderr)")
        }
    }

    // 2. Client configuration that finds itself.

    @Test("Without an API or a dispatcher to talk to, the commands name the flags and variables to set")
    func nothingConfigured() async throws {
        let home = try TemporaryDirectory(prefix: "cli-home")
        defer { home.remove() }
        let containers = try await Self.run(["containers"], home: home)
        #expect(containers.status == 2)
        #expect(Self.lines(containers.stderr).count == 1, "\(containers.stderr)")
        for hint in ["ARVADOS_API_HOST", "ARVADOS_API_TOKEN", "--config", "DISPATCH_CLOUD_CONFIG"] {
            #expect(containers.stderr.contains(hint), "\(containers.stderr)")
        }
        #expect(!containers.stderr.contains("cannot read configuration file"))

        // The README's setup: ARVADOS_* exported, no --config.
        let readme = ["ARVADOS_API_HOST": "http://127.0.0.1:9", "ARVADOS_API_TOKEN": "t"]
        for arguments in [["instances"], ["containers", "kill", "zzzzz-dz642-000000000000000"]] {
            let result = try await Self.run(arguments, home: home, environment: readme)
            #expect(result.status == 2, "\(arguments)")
            for hint in ["--url", "DISPATCH_CLOUD_URL", "--config"] {
                #expect(result.stderr.contains(hint), "\(arguments): \(result.stderr)")
            }
            #expect(!result.stderr.contains("cannot read configuration file /etc/arvados/config.yml"))
        }
    }

    @Test("Client commands read ARVADOS_API_HOST and the token from ~/.config/dispatch-cloud/settings.conf")
    func settingsFile() async throws {
        let home = try TemporaryDirectory(prefix: "cli-home")
        defer { home.remove() }
        try FileManager.default.createDirectory(
            atPath: home.path + "/.config/dispatch-cloud",
            withIntermediateDirectories: true
        )
        try await EmbeddedContainerAPI.with { api in
            _ = try home.write(
                "# written by hand\nARVADOS_API_HOST=\(api.url.absoluteString)\nARVADOS_API_TOKEN=\(api.rootToken)\n",
                to: ".config/dispatch-cloud/settings.conf"
            )
            let container = try await api.createContainer(command: ["true"])
            let result = try await Self.run(["containers"], home: home)
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout.contains(container.uuid.rawValue))
        }
    }

    // 3. Human errors.

    @Test("A refused connection and an https-less API are each one line saying what was tried")
    func transportErrors() async throws {
        let home = try TemporaryDirectory(prefix: "cli-home")
        defer { home.remove() }
        let closedPort = try LoopbackPort.free()
        let refused = try await Self.run(
            ["containers"],
            home: home,
            environment: ["ARVADOS_API_HOST": "http://127.0.0.1:\(closedPort)", "ARVADOS_API_TOKEN": "t"]
        )
        #expect(refused.status == 1)
        #expect(
            refused.stderr
                == "error: cannot connect to the API at http://127.0.0.1:\(closedPort): connection refused\n",
            "\(refused.stderr)"
        )
        try await EmbeddedContainerAPI.with { api in
            // As Arvados users write it: no scheme, which means https.
            let plain = try await Self.run(
                ["containers"],
                home: home,
                environment: ["ARVADOS_API_HOST": "127.0.0.1:\(api.port)", "ARVADOS_API_TOKEN": api.rootToken]
            )
            #expect(plain.status == 1)
            #expect(Self.lines(plain.stderr).count == 1, "\(plain.stderr)")
            #expect(plain.stderr.contains("speaks plain HTTP"), "\(plain.stderr)")
            #expect(plain.stderr.contains("http://127.0.0.1:\(api.port)"), "\(plain.stderr)")
            #expect(!plain.stderr.contains("WRONG_VERSION_NUMBER"), "\(plain.stderr)")
        }
    }

    // 4. Slurm-grade submit and logs.

    @Test("With the embedded API, submit of a container no type can run fails at once with the reason")
    func unsatisfiableSubmit() async throws {
        let home = try TemporaryDirectory(prefix: "cli-home")
        defer { home.remove() }
        let chooser = InstanceTypeChooser(
            types: [InstanceType(name: "small", vcpus: 2, ram: ByteSize(4 << 30), price: 0.1)],
            reserveExtraRAM: ByteSize(0),
            localKeepBlobBuffersPerVCPU: 0
        )
        try await EmbeddedContainerAPI.with(admission: chooser) { api in
            let result = try await Self.run(
                ["submit", "--vcpus", "64", "--", "true"],
                home: home,
                environment: Self.apiEnvironment(api)
            )
            #expect(result.status == 1)
            #expect(result.stderr.contains("422"), "\(result.stderr)")
            #expect(result.stderr.contains("no configured instance type"), "\(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(try await api.rootClient.containers().items.isEmpty)
        }
    }

    @Test("logs writes stdout to stdout and stderr to stderr, and --exit-status exits with the container's code")
    func logsSplitAndExitStatus() async throws {
        let home = try TemporaryDirectory(prefix: "cli-home")
        defer { home.remove() }
        try await EmbeddedContainerAPI.with { api in
            let container = try await api.createContainer(command: ["/bin/sh", "-c", "exit 7"])
            _ = try await api.rootClient.lockContainer(container.uuid)
            _ = try await api.rootClient.updateContainer(container.uuid, ["state": .string("Running")])
            for (event, text) in [
                ("stdout", "one\n"), ("stderr", "two\n"), ("crunch-run", "runner note\n"), ("stdout", "three\n"),
            ] {
                try await api.rootClient.createLog(
                    ArvadosLog(
                        objectUUID: container.uuid.rawValue,
                        eventType: event,
                        properties: ["text": .string(text)]
                    )
                )
            }
            let environment = Self.apiEnvironment(api)
            let plain = try await Self.run(["logs", container.uuid.rawValue], home: home, environment: environment)
            #expect(plain.status == 0, "stderr: \(plain.stderr)")
            #expect(plain.stdout == "one\nthree\n")
            #expect(plain.stderr == "two\n")
            let all = try await Self.run(
                ["logs", "--all", container.uuid.rawValue],
                home: home,
                environment: environment
            )
            #expect(all.stderr == "two\nrunner note\n")

            let json = try await Self.run(
                ["logs", "--json", container.uuid.rawValue],
                home: home,
                environment: environment
            )
            let records = try Self.lines(json.stdout).map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            #expect(records.compactMap { $0?["text"] as? String } == ["one\n", "two\n", "three\n"])
            #expect(records.compactMap { $0?["event_type"] as? String } == ["stdout", "stderr", "stdout"])

            _ = try await api.rootClient.updateContainer(
                container.uuid,
                ["state": .string("Complete"), "exit_code": .int(7)]
            )
            let status = try await Self.run(
                ["logs", "--exit-status", container.uuid.rawValue],
                home: home,
                environment: environment
            )
            #expect(status.status == 7, "stderr: \(status.stderr)")
            #expect(status.stdout == "one\nthree\n")
            #expect(status.stderr.contains("Complete, exit code 7"), "\(status.stderr)")
        }
    }

    @Test("containers --state takes any case and a bad state lists the valid ones")
    func stateAnyCase() async throws {
        let home = try TemporaryDirectory(prefix: "cli-home")
        defer { home.remove() }
        try await EmbeddedContainerAPI.with { api in
            let queued = try await api.createContainer(command: ["true"])
            let lower = try await Self.run(
                ["containers", "--state", "queued"],
                home: home,
                environment: Self.apiEnvironment(api)
            )
            #expect(lower.status == 0, "stderr: \(lower.stderr)")
            #expect(lower.stdout.contains(queued.uuid.rawValue))
            let running = try await Self.run(
                ["containers", "--state", "RUNNING"],
                home: home,
                environment: Self.apiEnvironment(api)
            )
            #expect(running.status == 0)
            #expect(!running.stdout.contains(queued.uuid.rawValue))
            let bad = try await Self.run(
                ["containers", "--state", "Sleeping"],
                home: home,
                environment: Self.apiEnvironment(api)
            )
            #expect(bad.status == 2)
            #expect(bad.stderr.contains("Queued, Locked, Running, Complete, Cancelled"), "\(bad.stderr)")
            #expect(bad.stderr.contains("Usage: dispatch-cloud containers list"), "\(bad.stderr)")
        }
    }

    // 5. A consistent command line.

    @Test("Usage errors exit 2 with the subcommand's usage; a typo gets a suggestion; the bare command shows help")
    func usageErrors() async throws {
        let home = try TemporaryDirectory(prefix: "cli-home")
        defer { home.remove() }
        let noCommand = try await Self.run(["submit", "--vcpus", "1"], home: home)
        #expect(noCommand.status == 2)
        #expect(noCommand.stderr.contains("Usage: dispatch-cloud submit"), "\(noCommand.stderr)")

        let unknownOption = try await Self.run(["containers", "--jsn"], home: home)
        #expect(unknownOption.status == 2)
        #expect(unknownOption.stderr.contains("Did you mean '--json'?"), "\(unknownOption.stderr)")

        let typo = try await Self.run(["contaners"], home: home)
        #expect(typo.status == 2)
        #expect(typo.stderr.contains("Did you mean 'containers'?"), "\(typo.stderr)")
        let nestedTypo = try await Self.run(["instances", "hodl", "i-1"], home: home)
        #expect(nestedTypo.status == 2)
        #expect(nestedTypo.stderr.contains("Did you mean 'hold'?"), "\(nestedTypo.stderr)")

        let bare = try await Self.run([], home: home)
        #expect(bare.status == 2)
        #expect(bare.stderr.contains("SUBCOMMANDS"), "\(bare.stderr)")
        let help = try await Self.run(["--help"], home: home)
        #expect(help.status == 0)
    }

    // 6. JSON for scripts.

    @Test("containers --json is one compact line with unescaped slashes")
    func compactJSON() async throws {
        let home = try TemporaryDirectory(prefix: "cli-home")
        defer { home.remove() }
        try await EmbeddedContainerAPI.with { api in
            let container = try await api.createContainer(command: ["/bin/true"])
            let result = try await Self.run(
                ["containers", "--json"],
                home: home,
                environment: Self.apiEnvironment(api)
            )
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(Self.lines(result.stdout).count == 1, "\(result.stdout)")
            #expect(result.stdout.contains("\"/bin/true\""), "\(result.stdout)")
            #expect(!result.stdout.contains("\\/"))
            let decoded = try JSONDecoder().decode([Container].self, from: Data(result.stdout.utf8))
            #expect(decoded.map(\.uuid) == [container.uuid])
        }
    }
}
