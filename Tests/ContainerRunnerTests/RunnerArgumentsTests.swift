import ContainerRunner
import Testing

@Suite("Runner arguments")
struct RunnerArgumentsTests {
    static let uuid = "zzzzz-dz642-000000000000001"

    @Test(
        "Go-style flags parse as crunch-run's do",
        arguments: [
            (["--list"], RunnerArguments.Mode.list, nil as String?),
            (["-list"], .list, nil),
            (["--kill", "15", "zzzzz-dz642-000000000000001"], .kill(signal: 15), "zzzzz-dz642-000000000000001"),
            (["-kill=9", "zzzzz-dz642-000000000000001"], .kill(signal: 9), "zzzzz-dz642-000000000000001"),
            (
                ["--detach", "--stdin-config", "--runtime-engine=docker", RunnerArgumentsTests.uuid], .detach,
                RunnerArgumentsTests.uuid
            ),
            (["--no-detach", "--stdin-env", RunnerArgumentsTests.uuid], .supervise, RunnerArgumentsTests.uuid),
            ([], .help, nil),
        ]
    )
    func modes(arguments: [String], mode: RunnerArguments.Mode, uuid: String?) throws {
        let parsed = try RunnerArguments(parsing: arguments)
        #expect(parsed.mode == mode)
        #expect(parsed.uuid == uuid)
    }

    @Test("Unknown flags are ignored and passed on; known ones are kept for the supervisor")
    func passThrough() throws {
        let parsed = try RunnerArguments(parsing: [
            "--detach", "--stdin-config", "--runtime-engine", "podman", "--broken-node-hook=/x",
            RunnerArgumentsTests.uuid,
        ])
        #expect(parsed.runtimeEngine == "podman")
        #expect(parsed.stdinConfig)
        #expect(parsed.ignored == ["--broken-node-hook=/x"])
        #expect(parsed.passThrough == ["--stdin-config", "--runtime-engine=podman", "--broken-node-hook=/x"])
    }

    @Test(
        "Contradictions and missing values are usage errors",
        arguments: [
            ["--list", "--detach"], ["--kill"], ["--kill", "x", RunnerArgumentsTests.uuid], ["--detach"],
            ["--list", "a", "b"],
            // Not container UUIDs: each would name a lock file.
            ["--detach", ""], ["--detach", "u"], ["--kill", "15", "zzzzz-dz642-00000000000000/"],
            ["--no-detach", "zzzzz-dz642-0000000000000011"], ["--detach", "zzzzz-tpzed-000000000000001"],
            // Signals kill(2) refuses: the runner would report a live runner it never signalled.
            ["--kill", "99999", RunnerArgumentsTests.uuid], ["--kill=65", RunnerArgumentsTests.uuid],
        ]
    )
    func errors(arguments: [String]) {
        let error = #expect(throws: RunnerError.self) { try RunnerArguments(parsing: arguments) }
        #expect(error?.code == .usage)
    }
}
