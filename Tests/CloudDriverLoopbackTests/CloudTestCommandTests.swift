import DispatchTestSupport
import Foundation
import Testing

/// `dispatch-cloud cloudtest` run as users run it, against the loopback and simulated drivers.
@Suite("dispatch-cloud cloudtest")
struct CloudTestCommandTests {
    static let dispatchCloud = ProcessRunner.product("dispatch-cloud")
    static let steps = [
        "check for leftover instances", "create instance", "listed with its tags", "reachable, host verified",
        "boot probe", "set tags", "destroy instance", "gone from the list",
    ]

    /// `examples/standalone.yml` with its data directory moved into `directory` and `replacements` applied.
    static func standaloneConfig(
        in directory: TemporaryDirectory,
        _ replacements: [String: String] = [:]
    ) throws
        -> String
    {
        let example = ProcessRunner.repositoryRoot().appendingPathComponent("examples/standalone.yml").path
        var text = try String(contentsOfFile: example, encoding: .utf8)
        text = text.replacingOccurrences(
            of: "DataDirectory: $XDG_STATE_HOME/dispatch-cloud-standalone",
            with: "DataDirectory: \(directory.file("data"))"
        )
        for (old, new) in replacements {
            #expect(text.contains(old), "the example no longer contains \(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        return try directory.write(text, to: "config.yml")
    }

    @Test("cloudtest passes against the loopback driver of the standalone example and prints every step")
    func loopback() async throws {
        let directory = try TemporaryDirectory(prefix: "cloudtest")
        defer { directory.remove() }
        let config = try Self.standaloneConfig(in: directory)
        let result = try await ProcessRunner.run(Self.dispatchCloud, ["cloudtest", "--config", config])
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        for step in Self.steps {
            #expect(result.stdout.contains("✔ \(step)"), "missing step \(step) in \(result.stdout)")
        }
        #expect(!result.stdout.contains("✘"))
        #expect(result.stdout.contains("throwaway Ed25519 key"))
        #expect(result.stdout.contains("host key verified by the driver; instance secret read back"))
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.file("data/loopback/instances"))
        #expect(left.isEmpty)
    }

    @Test("cloudtest passes against the simulated driver")
    func simulated() async throws {
        let directory = try TemporaryDirectory(prefix: "cloudtest")
        defer { directory.remove() }
        let config = try Self.standaloneConfig(
            in: directory,
            [
                "Driver: loopback": "Driver: simulated",
                "DriverParameters: {}": "DriverParameters: {BootTime: {Min: 0s, Max: 0s}, Seed: 7}",
            ]
        )
        let result = try await ProcessRunner.run(Self.dispatchCloud, ["cloudtest", "--config", config])
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        for step in Self.steps {
            #expect(result.stdout.contains("✔ \(step)"), "missing step \(step) in \(result.stdout)")
        }
        #expect(result.stdout.contains("in memory (no SSH)"))
    }

    @Test("A failing boot probe fails the run with status 1 after destroying the instance")
    func failingBootProbe() async throws {
        let directory = try TemporaryDirectory(prefix: "cloudtest")
        defer { directory.remove() }
        let config = try Self.standaloneConfig(
            in: directory,
            ["BootProbeCommand: \"true\"": "BootProbeCommand: \"false\"", "TimeoutBooting: 1m": "TimeoutBooting: 2s"]
        )
        let result = try await ProcessRunner.run(Self.dispatchCloud, ["cloudtest", "--config", config])
        #expect(result.status == 1, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("✘ boot probe"))
        #expect(result.stdout.contains("✔ destroy instance (cleanup)"))
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.file("data/loopback/instances"))
        #expect(left.isEmpty)
    }

    @Test(
        "Configuration errors exit with status 2",
        arguments: [
            (["--instance-type", "huge"], [String: String]()),
            ([], ["TimeoutBooting: 1m": "TimeoutBooting: soon"]),
            ([], ["DriverParameters: {}": "DriverParameters: {MaxInstances: 0}"]),
            ([], ["Driver: loopback": "Driver: nosuchcloud"]),
        ]
    )
    func configurationErrors(arguments: [String], replacements: [String: String]) async throws {
        let directory = try TemporaryDirectory(prefix: "cloudtest")
        defer { directory.remove() }
        let config = try Self.standaloneConfig(in: directory, replacements)
        let result = try await ProcessRunner.run(Self.dispatchCloud, ["cloudtest", "--config", config] + arguments)
        #expect(result.status == 2, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stderr.contains("error:"))
        #expect(!result.stdout.contains("✔ create instance"))
    }
    @Test(
        "arvados-server cloudtest's flags, one dash or two: -command shows the output, -pause-before-destroy waits for Enter",
        arguments: ["-", "--"]
    )
    func arvadosFlags(dash: String) async throws {
        let directory = try TemporaryDirectory(prefix: "cloudtest")
        defer { directory.remove() }
        let config = try Self.standaloneConfig(in: directory)
        let setID = "zzzzz-zzzzz-" + String(UUID().uuidString.prefix(15)).lowercased()
        let result = try await ProcessRunner.run(
            Self.dispatchCloud,
            [
                "cloudtest", dash + "config", config, dash + "instance-set-id", setID, dash + "image-id", "other-image",
                dash + "instance-type", "medium", dash + "destroy-existing", dash + "command",
                "echo out-$((6*7)); echo err-line >&2", dash + "pause-before-destroy",
            ],
            stdin: "\n"
        )
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("instance type medium"), "\(result.stdout)")
        #expect(result.stdout.contains("image other-image"), "\(result.stdout)")
        #expect(result.stdout.contains("instance set ID \(setID)"))
        #expect(result.stdout.contains("✔ run -command"), "\(result.stdout)")
        #expect(result.stdout.contains("out-42\n"), "the command ran on the instance: \(result.stdout)")
        #expect(result.stdout.contains("err-line\n"))
        #expect(result.stderr.contains("Press Enter to continue: "), "\(result.stderr)")
        #expect(result.stdout.contains("✔ destroy instance"))
    }

    @Test("A failing -command fails the run with status 1 and the instance is destroyed")
    func failingCommand() async throws {
        let directory = try TemporaryDirectory(prefix: "cloudtest")
        defer { directory.remove() }
        let config = try Self.standaloneConfig(in: directory)
        let result = try await ProcessRunner.run(
            Self.dispatchCloud,
            ["cloudtest", "-config", config, "-command", "echo why >&2; exit 3"]
        )
        #expect(result.status == 1, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("✘ run -command"))
        #expect(result.stdout.contains("exited with status 3"))
        #expect(result.stdout.contains("why\n"))
        #expect(result.stdout.contains("✔ destroy instance (cleanup)"))
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.file("data/loopback/instances"))
        #expect(left.isEmpty)
    }
}
