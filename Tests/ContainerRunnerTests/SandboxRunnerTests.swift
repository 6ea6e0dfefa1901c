import ArvadosAPI
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

/// `dispatch-runner` with the `process` engine where bubblewrap is missing (`$DISPATCH_RUNNER_BWRAP` names a
/// path that does not exist): Mode bwrap fails the container saying why, Mode auto runs it with a warning.
@Suite("Runner without bubblewrap")
struct SandboxRunnerTests {
    static func run(_ mode: String, command: [String]) async throws -> (Container, String, String) {
        let node = try RunnerProcessTests.Node()
        defer { node.directory.remove() }
        return try await EmbeddedContainerAPI.with { api in
            let container = try await RunnerProcessTests.lockedContainer(api, command: command)
            var document = try JSONDecoder().decode(
                [String: JSONValue].self,
                from: Data(try RunnerProcessTests.config(api).utf8)
            )
            document["Sandbox"] = .object(["Mode": .string(mode)])
            let detached = try await ProcessRunner.run(
                RunnerProcessTests.runner,
                ["--detach", "--stdin-config", "--runtime-engine=process", container.uuid.rawValue],
                environment: node.environment.merging(["DISPATCH_RUNNER_BWRAP": "/nonexistent/bwrap"]) { $1 },
                stdin: String(decoding: try JSONEncoder().encode(document), as: UTF8.self)
            )
            let finished = try #require(
                try await RunnerProcessTests.waitForState(api, container.uuid, [.complete, .cancelled]),
                "detach: \(detached.stderr)"
            )
            let stdout = try await RunnerProcessTests.logText(api, container.uuid, "stdout")
            let notes = try await RunnerProcessTests.logText(api, container.uuid, "crunch-run")
            return (finished, stdout, notes)
        }
    }

    @Test("Mode bwrap: the container is Cancelled with a runtime_status.error saying to install bubblewrap")
    func required() async throws {
        let (container, stdout, notes) = try await Self.run("bwrap", command: ["sh", "-c", "echo ran-anyway"])
        #expect(container.state == .cancelled)
        let error = container.runtimeStatus["error"]?.stringValue ?? ""
        #expect(error.contains("bubblewrap (bwrap), which is not installed"), "\(container.runtimeStatus)")
        #expect(error.contains("DispatchCloud.ProcessSandbox.Mode"))
        #expect(!stdout.contains("ran-anyway"))
        #expect(notes.contains("cannot start the container"), "\(notes)")
    }

    @Test("Mode auto: the container runs unsandboxed, and its log says so")
    func fallback() async throws {
        let (container, stdout, notes) = try await Self.run("auto", command: ["sh", "-c", "echo ran-unsandboxed"])
        #expect(container.state == .complete && container.exitCode == 0, "\(container.runtimeStatus)")
        #expect(stdout == "ran-unsandboxed\n")
        #expect(notes.contains("warning: bubblewrap (bwrap) is not installed"), "\(notes)")
    }
}
