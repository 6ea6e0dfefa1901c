import DispatchTestSupport
import Foundation
import Testing

/// `dispatch-cloud check-config` as an operator meets it with a hostile or mistaken file (issue 13,
/// findings 5 and 7): it answers fast with exit status 2 and one line per problem naming the key, and no
/// output, on either stream, holds a secret.
@Suite("check-config with hostile configurations")
struct CheckConfigHostileTests {
    static let dispatchCloud = ProcessRunner.product("dispatch-cloud")

    static func checkConfig(_ yaml: String) async throws -> ProcessOutput {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dc-hostile-\(UUID().uuidString).yml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        return try await ProcessRunner.run(Self.dispatchCloud, ["check-config", "--config", url.path])
    }

    static func cluster(_ body: String) -> String {
        "Clusters:\n  z1234:\n" + body.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n"
    }

    @Test(
        "hostile values are refused with status 2, naming the key",
        arguments: [
            (
                "Containers:\n  CloudVMs:\n    DriverParameters:\n      a: &a [x, x, x, x, x, x, x, x, x]\n"
                    + (1...9).map {
                        "      a\($0): &a\($0) ["
                            + Array(repeating: "*a\($0 == 1 ? "" : String($0 - 1))", count: 9).joined(separator: ", ")
                            + "]"
                    }
                    .joined(separator: "\n"),
                "Clusters.z1234.Containers.CloudVMs.DriverParameters.a"
            ),
            ("Containers:\n  DispatchPrivateKey: file:///dev/zero", "Clusters.z1234.Containers.DispatchPrivateKey"),
            (
                "Containers:\n  ReserveExtraRAM: 7EiB\nInstanceTypes:\n  a: {VCPUs: 2, RAM: 4GiB}",
                "Clusters.z1234.Containers.ReserveExtraRAM"
            ),
            (
                "Services:\n  DispatchCloud:\n    InternalURLs: {\"http://localhost:99999/\": {}}",
                "Clusters.z1234.Services.DispatchCloud.InternalURLs"
            ),
            ("InstanceTypes:\n  a: {VCPUs: 2, RAM: 4GiB, Price: .nan}", "Clusters.z1234.InstanceTypes.a.Price"),
            ("DispatchCloud:\n  MaxHourlySpend: -1", "Clusters.z1234.DispatchCloud.MaxHourlySpend"),
            ("DispatchCloud:\n  MaxSpendPerDay: .inf", "Clusters.z1234.DispatchCloud.MaxSpendPerDay"),
            ("DispatchCloud:\n  SpotFallbackAfter: -2m", "Clusters.z1234.DispatchCloud.SpotFallbackAfter"),
            ("DispatchCloud:\n  SpotFallbackAfter: 120", "Clusters.z1234.DispatchCloud.SpotFallbackAfter"),
            ("DispatchCloud:\n  PreemptionBudget: -1", "Clusters.z1234.DispatchCloud.PreemptionBudget"),
            ("DispatchCloud:\n  PreemptionBudget: lots", "Clusters.z1234.DispatchCloud.PreemptionBudget"),
        ]
    )
    func refused(body: String, key: String) async throws {
        let start = ContinuousClock.now
        let result = try await Self.checkConfig(Self.cluster(body))
        // A hang bound (the old loader never finished an alias bomb), not a speed test.
        #expect(ContinuousClock.now - start < .seconds(120))
        #expect(result.status == 2, "stdout: \(result.stdout.prefix(500)) stderr: \(result.stderr.prefix(500))")
        #expect(result.stderr.contains("error: \(key)"), "stderr: \(result.stderr.prefix(1000))")
    }

    @Test("a truncated private key fails check-config as it would fail serve, without printing the key")
    func truncatedKey() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dc-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyPath = directory.appendingPathComponent("id_ed25519").path
        let keygen = try await ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/ssh-keygen"),
            ["-q", "-t", "ed25519", "-N", "", "-f", keyPath]
        )
        try #require(keygen.status == 0)
        let key = try String(contentsOfFile: keyPath, encoding: .utf8)
        let lines = key.split(separator: "\n")
        // The header, the first half of the body, the footer: what a bad copy and paste leaves.
        let truncated = ([lines[0]] + lines[1..<(lines.count / 2)] + [lines[lines.count - 1]]).joined(separator: "\n")
        let body = try #require(lines.dropFirst().first.map(String.init))

        let whole = try await Self.checkConfig(
            Self.cluster("Containers:\n  DispatchPrivateKey: file://\(keyPath)")
        )
        #expect(whole.status == 0, "stderr: \(whole.stderr)")

        let truncatedPath = directory.appendingPathComponent("truncated").path
        try truncated.write(toFile: truncatedPath, atomically: true, encoding: .utf8)
        for value in ["file://\(truncatedPath)", "\"" + truncated.replacing("\n", with: "\\n") + "\""] {
            let result = try await Self.checkConfig(Self.cluster("Containers:\n  DispatchPrivateKey: \(value)"))
            #expect(result.status == 2)
            #expect(result.stderr.contains("error: Clusters.z1234.Containers.DispatchPrivateKey: "), "\(result.stderr)")
            #expect(!result.stdout.contains(body) && !result.stderr.contains(body))
        }
    }

    @Test("no output of check-config holds a secret, whatever wrong value a secret key is given")
    func secretsNeverPrinted() async throws {
        let secret = "S3cr3tV4lue\(UInt32.random(in: 0...UInt32.max))"
        let places = [
            "SystemRootToken: VALUE", "ManagementToken: VALUE", "DispatchCloud:\n  SubmitterTokens: VALUE",
            "Containers:\n  DispatchPrivateKey: VALUE", "TLS:\n  Key: VALUE",
            "Containers:\n  CloudVMs:\n    DriverParameters:\n      SecretAccessKey: VALUE",
        ]
        let values = [
            "SECRET", "[SECRET]", "{Nested: SECRET}", "12SECRET", "\"http://u:SECRET@localhost:99999/\"", "\"SECRET",
        ]
        let urls = [
            "Services:\n  Controller:\n    ExternalURL: \"https://u:SECRET@localhost:8443/\"",
            "Services:\n  Controller:\n    ExternalURL: \"https://u:SECRET@localhost:99999/\"",
            "Services:\n  Controller:\n    InternalURLs: {\"http://u:SECRET@localhost:8000/\": {Unknown: 1}}",
        ]
        let bodies = places.flatMap { place in values.map { place.replacing("VALUE", with: $0) } } + urls
        for body in bodies {
            let result = try await Self.checkConfig(Self.cluster(body.replacing("SECRET", with: secret)))
            #expect(
                !result.stdout.contains(secret) && !result.stderr.contains(secret),
                "\(body): \(result.stdout) \(result.stderr)"
            )
            if result.status != 0 {
                #expect(result.stderr.contains("error: "))
            }
        }
    }
}
