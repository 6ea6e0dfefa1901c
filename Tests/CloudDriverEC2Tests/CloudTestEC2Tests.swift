import DispatchTestSupport
import Foundation
import Testing

@testable import CloudDriverEC2

extension MotoEC2Tests {
    /// `examples/ec2.yml` with the commented `Endpoint` pointed at the suite's moto, its second subnet replaced
    /// by one of moto's, and its first too when `firstSubnet` is given (else it stays one moto lacks).
    static func exampleConfig(
        in directory: TemporaryDirectory,
        realSubnet: String,
        firstSubnet: String? = nil
    ) throws -> String {
        let example = ProcessRunner.repositoryRoot().appendingPathComponent("examples/ec2.yml").path
        var text = try String(contentsOfFile: example, encoding: .utf8)
        let server = try MotoServerTrait.server()
        var replacements = [
            ("# Endpoint: http://127.0.0.1:5000", "Endpoint: \(server.endpoint)"),
            ("- subnet-0a1b2c3d4e5f60002", "- \(realSubnet)"),
        ]
        if let firstSubnet { replacements.append(("- subnet-0a1b2c3d4e5f60001", "- \(firstSubnet)")) }
        for (old, new) in replacements {
            #expect(text.contains(old), "examples/ec2.yml no longer contains \(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        return try directory.write(text, to: "ec2.yml")
    }

    @Test("cloudtest with examples/ec2.yml against moto checks the API lifecycle once per subnet without connecting")
    func cloudtestExample() async throws {
        let subnets = try await Fixture().call("DescribeSubnets").items("subnetSet").compactMap {
            $0.text(at: "subnetId")
        }
        try #require(subnets.count >= 2, "moto lists \(subnets)")
        let directory = try TemporaryDirectory(prefix: "cloudtest-ec2")
        defer { directory.remove() }
        let config = try Self.exampleConfig(in: directory, realSubnet: subnets[1], firstSubnet: subnets[0])
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
        #expect(result.stdout.contains("run 1 of 2: SubnetID[0] \(subnets[0])"), "\(result.stdout)")
        #expect(result.stdout.contains("run 2 of 2: SubnetID[1] \(subnets[1])"))
        #expect(result.stdout.contains("2 of 2 subnet runs passed"))
        #expect(result.stdout.components(separatedBy: "cloudtest: PASS").count == 3)
    }

    @Test("cloudtest runs once per subnet: a subnet the cloud lacks fails its run, the other passes, exit 1")
    func cloudtestPerSubnet() async throws {
        let subnets = try await Fixture().call("DescribeSubnets")
        let real = try #require(subnets.items("subnetSet").first?.text(at: "subnetId"))
        let directory = try TemporaryDirectory(prefix: "cloudtest-ec2")
        defer { directory.remove() }
        let config = try Self.exampleConfig(in: directory, realSubnet: real)
        let result = try await ProcessRunner.run(
            ProcessRunner.product("dispatch-cloud"),
            [
                "cloudtest", "-config", config, "-instance-set-id",
                "zzzzz-zzzzz-" + String(UUID().uuidString.prefix(15)),
            ],
            environment: ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"]
        )
        #expect(result.status == 1, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("✘ create instance"), "\(result.stdout)")
        #expect(result.stdout.contains("failed using SubnetID[0] subnet-0a1b2c3d4e5f60001"))
        #expect(result.stdout.contains("run 2 of 2: SubnetID[1] \(real)"))
        #expect(result.stdout.contains("1 of 2 subnet runs passed"))
    }

    @Test("cloudtest --api-only says it does not connect and passes")
    func cloudtestAPIOnlyFlag() async throws {
        let subnets = try await Fixture().call("DescribeSubnets").items("subnetSet").compactMap {
            $0.text(at: "subnetId")
        }
        try #require(subnets.count >= 2, "moto lists \(subnets)")
        let directory = try TemporaryDirectory(prefix: "cloudtest-ec2")
        defer { directory.remove() }
        let config = try Self.exampleConfig(in: directory, realSubnet: subnets[1], firstSubnet: subnets[0])
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
