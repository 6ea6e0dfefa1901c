import DispatchTestSupport
import Foundation
import Testing

/// The two executables, driven through their command lines as users and scripts drive them.
@Suite("Command line")
struct CommandLineTests {
    static let dispatchCloud = ProcessRunner.product("dispatch-cloud")
    static let dispatchRunner = ProcessRunner.product("dispatch-runner")
    static let root = ProcessRunner.repositoryRoot()

    static func temporaryFile(_ contents: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dc-cli-\(UUID().uuidString).yml")
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test("dispatch-cloud --help lists the subcommands")
    func help() async throws {
        let result = try await ProcessRunner.run(Self.dispatchCloud, ["--help"])
        #expect(result.status == 0)
        for subcommand in ["check-config", "serve", "demo"] {
            #expect(result.stdout.contains(subcommand))
        }
    }

    @Test("dispatch-cloud --version prints a version")
    func version() async throws {
        let result = try await ProcessRunner.run(Self.dispatchCloud, ["--version"])
        #expect(result.status == 0)
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).first?.isNumber == true)
    }

    @Test("check-config prints the effective configuration of the standalone example")
    func checkConfigStandalone() async throws {
        let example = Self.root.appendingPathComponent("examples/standalone.yml").path
        let result = try await ProcessRunner.run(Self.dispatchCloud, ["check-config", "--config", example])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        // Defaults the example does not set appear in the effective configuration.
        #expect(result.stdout.contains("TimeoutBooting"))
        #expect(result.stdout.contains("loopback"))
        #expect(result.stdout.contains("InstanceTypes"))
    }

    @Test("check-config never prints a secret")
    func checkConfigRedacts() async throws {
        let secret = "s3cr3t-root-token-\(UUID().uuidString)"
        let file = try Self.temporaryFile(
            """
            Clusters:
              z1234:
                SystemRootToken: \(secret)
                ManagementToken: \(secret)-mgmt
                Containers:
                  CloudVMs:
                    Driver: loopback
                InstanceTypes:
                  small: {VCPUs: 1, RAM: 1GiB, Price: 0.1}
            """
        )
        let result = try await ProcessRunner.run(Self.dispatchCloud, ["check-config", "--config", file.path])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret))
    }

    @Test("check-config rejects a bad duration with exit status 2 and the key path")
    func checkConfigBadDuration() async throws {
        let file = try Self.temporaryFile(
            """
            Clusters:
              z1234:
                Containers:
                  CloudVMs:
                    TimeoutIdle: banana
            """
        )
        let result = try await ProcessRunner.run(Self.dispatchCloud, ["check-config", "--config", file.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("Clusters.z1234.Containers.CloudVMs.TimeoutIdle"))
        #expect(result.stderr.contains("banana"))
    }

    @Test("check-config reports a missing file with exit status 2")
    func checkConfigMissingFile() async throws {
        let result = try await ProcessRunner.run(
            Self.dispatchCloud,
            ["check-config", "--config", "/nonexistent/dispatch-cloud.yml"]
        )
        #expect(result.status == 2)
        #expect(result.stderr.contains("/nonexistent/dispatch-cloud.yml"))
    }

    @Test("dispatch-runner answers --help with the crunch-run modes")
    func runnerHelp() async throws {
        let result = try await ProcessRunner.run(Self.dispatchRunner, ["--help"])
        #expect(result.status == 0)
        for flag in ["--list", "--detach", "--kill"] {
            #expect(result.stdout.contains(flag))
        }
    }
}
