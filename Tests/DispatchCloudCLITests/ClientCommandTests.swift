import ArvadosAPI
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

/// `submit`, `containers`, `logs` and `cancel`, run as a user runs them against the embedded API.
@Suite("Client commands")
struct ClientCommandTests {
    static let dispatchCloud = ProcessRunner.product("dispatch-cloud")

    static func run(_ api: EmbeddedContainerAPI, _ arguments: [String]) async throws -> ProcessOutput {
        try await ProcessRunner.run(
            Self.dispatchCloud,
            arguments,
            environment: ["ARVADOS_API_HOST": api.url.absoluteString, "ARVADOS_API_TOKEN": api.rootToken]
        )
    }

    @Test("submit creates a Queued container with the requested resources and prints its UUID")
    func submit() async throws {
        try await EmbeddedContainerAPI.with { api in
            let result = try await Self.run(
                api,
                [
                    "submit", "--vcpus", "2", "--ram", "1GiB", "--tmp", "2GiB", "--priority", "7", "--env", "A=b=c",
                    "--max-run-time", "60", "--preemptible", "--", "sh", "-c", "echo hi",
                ]
            )
            #expect(result.status == 0, "stderr: \(result.stderr)")
            let uuid = ContainerUUID(rawValue: result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(uuid.isWellFormed)
            let container = try await api.rootClient.container(uuid)
            #expect(container.state == .queued)
            #expect(container.command == ["sh", "-c", "echo hi"])
            #expect(container.priority == 7)
            #expect(container.runtimeConstraints.vcpus == 2)
            #expect(container.runtimeConstraints.ram == 1 << 30)
            #expect(container.mounts["/tmp"]?.capacity == 2 << 30)
            #expect(container.environment == ["A": "b=c"])
            #expect(container.schedulingParameters.preemptible)
            #expect(container.schedulingParameters.maxRunTime == 60)
        }
    }

    @Test("submit without a command, or with a bad size, is a usage error that creates nothing")
    func submitErrors() async throws {
        try await EmbeddedContainerAPI.with { api in
            let noCommand = try await Self.run(api, ["submit", "--vcpus", "1"])
            #expect(noCommand.status != 0)
            #expect(noCommand.stderr.contains("command"))
            let badSize = try await Self.run(api, ["submit", "--ram", "lots", "--", "true"])
            #expect(badSize.status != 0)
            #expect(badSize.stderr.contains("lots"))
            #expect(try await api.rootClient.containers().items.isEmpty)
        }
    }

    @Test("containers lists state, priority and exit code, as a table or JSON, filtered by state")
    func containers() async throws {
        try await EmbeddedContainerAPI.with { api in
            let queued = try await api.createContainer(command: ["true"], priority: 3)
            let done = try await api.createContainer(command: ["false"], priority: 5)
            _ = try await api.rootClient.lockContainer(done.uuid)
            _ = try await api.rootClient.updateContainer(done.uuid, ["state": .string("Running")])
            _ = try await api.rootClient.updateContainer(
                done.uuid,
                ["state": .string("Complete"), "exit_code": .int(1), "cost": .double(0.25)]
            )
            let table = try await Self.run(api, ["containers"])
            #expect(table.status == 0, "stderr: \(table.stderr)")
            let lines = table.stdout.split(separator: "\n")
            #expect(lines.first?.hasPrefix("UUID") == true)
            let doneLine = try #require(lines.first { $0.hasPrefix(done.uuid.rawValue) })
            #expect(doneLine.contains("Complete") && doneLine.contains(" 1 "))
            // The cost the runner stored.
            #expect(lines.first?.contains(" COST ") == true)
            #expect(doneLine.contains(" 0.2500 "), "\(doneLine)")
            let queuedLine = try #require(lines.first { $0.hasPrefix(queued.uuid.rawValue) })
            #expect(queuedLine.contains("Queued") && queuedLine.contains(" - "))

            let json = try await Self.run(api, ["containers", "list", "--json", "--state", "Complete"])
            #expect(json.status == 0, "stderr: \(json.stderr)")
            let decoded = try JSONDecoder().decode([Container].self, from: Data(json.stdout.utf8))
            #expect(decoded.map(\.uuid) == [done.uuid])
            #expect(decoded.first?.exitCode == 1)

            let badState = try await Self.run(api, ["containers", "--state", "Sleeping"])
            #expect(badState.status != 0)
        }
    }

    @Test("cancel cancels a queued container, and reports an unknown one with exit status 1")
    func cancel() async throws {
        try await EmbeddedContainerAPI.with { api in
            let container = try await api.createContainer(command: ["true"])
            let result = try await Self.run(api, ["cancel", container.uuid.rawValue])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout.contains("Cancelled"))
            #expect(try await api.rootClient.container(container.uuid).state == .cancelled)
            let missing = try await Self.run(api, ["cancel", "zzzzz-dz642-000000000000000"])
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("404"))
        }
    }

    @Test("logs prints a container's stdout and stderr apart, in order, and --follow returns once it is final")
    func logs() async throws {
        try await EmbeddedContainerAPI.with { api in
            let container = try await api.createContainer(command: ["true"])
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
            let plain = try await Self.run(api, ["logs", container.uuid.rawValue])
            #expect(plain.status == 0, "stderr: \(plain.stderr)")
            #expect(plain.stdout == "one\nthree\n")
            #expect(plain.stderr == "two\n")
            let all = try await Self.run(api, ["logs", "--all", container.uuid.rawValue])
            #expect(all.stdout == "one\nthree\n")
            #expect(all.stderr == "two\nrunner note\n")

            _ = try await api.rootClient.updateContainer(
                container.uuid,
                ["state": .string("Complete"), "exit_code": .int(0)]
            )
            let followed = try await Self.run(api, ["logs", "--follow", container.uuid.rawValue])
            #expect(followed.status == 0)
            #expect(followed.stdout == "one\nthree\n")
            #expect(followed.stderr == "two\n")
        }
    }

    @Test("Client commands without an API address or token say what to set and exit 2")
    func missingAPI() async throws {
        let result = try await ProcessRunner.run(
            Self.dispatchCloud,
            ["containers", "--config", "/nonexistent.yml"],
            environment: ["ARVADOS_API_HOST": "", "ARVADOS_API_TOKEN": ""]
        )
        #expect(result.status == 2)
        #expect(result.stderr.contains("/nonexistent.yml"))
    }
}
