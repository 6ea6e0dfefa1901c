import DispatchTestSupport
import Foundation
import Testing

@testable import CloudDriverEC2

extension MotoEC2Tests {
    /// `examples/ec2.yml` with the commented `Endpoint` pointed at the suite's moto and its second subnet
    /// replaced by one of moto's (the first, which moto lacks, makes the create fail over).
    static func exampleConfig(in directory: TemporaryDirectory, realSubnet: String) throws -> String {
        let example = ProcessRunner.repositoryRoot().appendingPathComponent("examples/ec2.yml").path
        var text = try String(contentsOfFile: example, encoding: .utf8)
        let server = try MotoServerTrait.server()
        for (old, new) in [
            "# Endpoint: http://127.0.0.1:5000": "Endpoint: \(server.endpoint)",
            "- subnet-0a1b2c3d4e5f60002": "- \(realSubnet)",
        ] {
            #expect(text.contains(old), "examples/ec2.yml no longer contains \(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        return try directory.write(text, to: "ec2.yml")
    }

    @Test("cloudtest with examples/ec2.yml against moto checks the API lifecycle without connecting")
    func cloudtestExample() async throws {
        let subnets = try await Fixture().call("DescribeSubnets")
        let real = try #require(subnets.items("subnetSet").first?.text(at: "subnetId"))
        let directory = try TemporaryDirectory(prefix: "cloudtest-ec2")
        defer { directory.remove() }
        let config = try Self.exampleConfig(in: directory, realSubnet: real)
        let result = try await ProcessRunner.run(
            ProcessRunner.product("dispatch-cloud"),
            [
                "cloudtest", "--config", config, "--instance-set-id",
                "zzzzz-zzzzz-" + String(UUID().uuidString.prefix(15)),
            ],
            environment: ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"]
        )
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        for step in [
            "check for leftover instances", "create instance", "listed with its tags", "set tags", "destroy instance",
            "gone from the list",
        ] {
            #expect(result.stdout.contains("✔ \(step)"), "missing step \(step) in \(result.stdout)")
        }
        #expect(result.stdout.contains("checking the API only"))
        #expect(!result.stdout.contains("reachable, host verified"))
        #expect(!result.stdout.contains("boot probe"))
        #expect(!result.stdout.contains("✘"))
    }

    @Test("cloudtest --api-only says it does not connect and passes")
    func cloudtestAPIOnlyFlag() async throws {
        let subnets = try await Fixture().call("DescribeSubnets")
        let real = try #require(subnets.items("subnetSet").first?.text(at: "subnetId"))
        let directory = try TemporaryDirectory(prefix: "cloudtest-ec2")
        defer { directory.remove() }
        let config = try Self.exampleConfig(in: directory, realSubnet: real)
        let result = try await ProcessRunner.run(
            ProcessRunner.product("dispatch-cloud"),
            [
                "cloudtest", "--config", config, "--api-only", "--instance-set-id",
                "zzzzz-zzzzz-" + String(UUID().uuidString.prefix(15)),
            ],
            environment: ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"]
        )
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("API only: not connecting to i-"))
        #expect(result.stdout.contains("cloudtest: PASS"))
    }
}

/// cloudtest's configuration checks for EC2 that need no cloud.
@Suite("dispatch-cloud cloudtest with EC2, offline")
struct CloudTestEC2OfflineTests {
    @Test("At a real EC2 endpoint cloudtest needs the configured key and stops before any request")
    func realEndpointNeedsKey() async throws {
        let example = ProcessRunner.repositoryRoot().appendingPathComponent("examples/ec2.yml").path
        let result = try await ProcessRunner.run(
            ProcessRunner.product("dispatch-cloud"),
            ["cloudtest", "--config", example],
            environment: ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"]
        )
        #expect(result.status == 2, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stderr.contains("Containers.DispatchPrivateKey is empty"))
        #expect(!result.stdout.contains("create instance"))
    }
}
