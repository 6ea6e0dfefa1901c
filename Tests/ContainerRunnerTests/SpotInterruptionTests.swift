import ArvadosAPI
import ContainerRunner
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

/// `EC2SpotCheck`: the runner watches a (fake) instance metadata service on 127.0.0.1 for a spot interruption
/// notice, as `crunch-run` does; 169.254.169.254 is never dialled in a test.
@Suite("Spot interruption notices")
struct SpotInterruptionTests {
    // Every wait below is for an event (an answer of the fake metadata service, a committed change of the container),
    // not a window of wall-clock time: in the whole suite this test took 84-106 s, 57 s of it before the fake
    // service even listened, so its former 20-second `eventually` windows could close before the runner's first
    // checks. The time limit bounds a real hang.
    @Test(
        "A notice becomes crunch-run's runtime_status warning and a log line; IMDSv2 token first, renewed after a 401",
        .timeLimit(.minutes(5))
    )
    func noticeThroughSupervisor() async throws {
        let imds = FakeInstanceMetadata()
        let imdsTask = Task { try await imds.run() }
        defer { imdsTask.cancel() }
        let port = await imds.listeningPort()
        let directory = try TemporaryDirectory(prefix: "runner-spot")
        defer { directory.remove() }
        let go = directory.file("go")
        try await EmbeddedContainerAPI.with { api in
            let created = try await api.createContainer(
                command: ["sh", "-c", "while [ ! -e \(go) ]; do sleep 0.02; done"]
            )
            let locked = try await api.rootClient.lockContainer(created.uuid)
            let changes = api.changes()
            let supervisor = ContainerSupervisor(
                uuid: locked.uuid,
                client: api.rootClient,
                engine: "process",
                workRoot: directory.file("work"),
                readyDescriptor: nil,
                container: locked,
                sandbox: SandboxSettings(mode: .none),
                spotCheck: SpotInterruptionWatcher(
                    metadataURL: URL(string: "http://127.0.0.1:\(port)")!,
                    interval: .milliseconds(20)
                )
            )
            let run = Task { await supervisor.run() }
            // Checks go on with no notice (404), with a token obtained first.
            let checking = await imds.counts { $0.checks >= 3 }
            #expect(checking.checks >= 3)
            #expect(checking.tokens == 1)
            // A rotated token gets a 401: the next round fetches a new one.
            imds.rotateToken()
            let renewed = await imds.counts { $0.tokens >= 2 }
            #expect(renewed.tokens >= 2)
            #expect(renewed.unauthorized >= 1)
            #expect(try await api.rootClient.container(locked.uuid).runtimeStatus["warning"] == nil)

            imds.schedule(action: "terminate", time: "2026-12-03T13:40:00Z")
            let text = "Cloud provider scheduled instance terminate at 2026-12-03T13:40:00Z"
            var committed: Container?
            for await batch in changes {
                committed = batch.last { $0.uuid == locked.uuid && $0.runtimeStatus["warning"] != nil }
                if committed != nil { break }
            }
            #expect(committed != nil)
            let status = try await api.rootClient.container(locked.uuid).runtimeStatus
            #expect(status["warning"] == .string("preemption notice"))
            #expect(status["warningDetail"] == .string(text))
            #expect(status["preemptionNotice"] == .string(text))
            // The runner writes the notice's log line (and the lines noted before it) before the warning.
            let log = try await RunnerProcessTests.logText(api, locked.uuid, "crunch-run")
            #expect(log.contains(text))
            #expect(log.contains("Checking for spot instance interruptions every"))
            // The container carries on until it ends by itself.
            #expect(FileManager.default.createFile(atPath: go, contents: Data()))
            #expect(await run.value == 0)
            let finished = try await api.rootClient.container(locked.uuid)
            #expect(finished.state == .complete)
            #expect(finished.runtimeStatus["preemptionNotice"] == .string(text))
        }
    }

    @Test("Without EC2SpotCheck the runner never asks the metadata service")
    func noCheckWithoutFlag() async throws {
        let configuration = try RunnerConfiguration.read(
            stdin: Data(#"{"Env":{"ARVADOS_API_HOST":"h:1","ARVADOS_API_TOKEN":"t"},"EC2SpotCheck":false}"#.utf8),
            arguments: try RunnerArguments(parsing: ["--detach", "--stdin-config", "zzzzz-dz642-000000000000001"]),
            processEnvironment: [:]
        )
        #expect(!configuration.ec2SpotCheck)
        #expect(SpotInterruptionWatcher.defaultMetadataURL == "http://169.254.169.254")
    }
}
