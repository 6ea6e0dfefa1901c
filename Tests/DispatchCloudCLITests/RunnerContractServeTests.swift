import ArvadosAPI
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The runner contract as Arvados's `crunch-run` sees it (reference §7.3, `lib/dispatchcloud/worker/runner.go`,
/// `crunchrun.ConfigData`): `serve` deploys a recording stand-in for `crunch-run` and starts a container with it.
@Suite("Runner contract through serve", .serialized)
struct RunnerContractServeTests {
    /// A stand-in for `crunch-run`: records the arguments and stdin of `--detach`, then reports the container
    /// as running in `--list`.
    static func recordingRunner(recordDirectory: String) -> String {
        """
        #!/bin/sh
        record=\(recordDirectory)
        case " $* " in
          *" --list "*)
            case " $* " in *" --stdin-prices "*) cat >/dev/null ;; esac
            cat "$record/running" 2>/dev/null
            exit 0 ;;
          *" --detach "*)
            printf '%s\\n' "$0" "$@" >"$record/arguments.tmp"
            cat >"$record/stdin.json"
            for last in "$@"; do :; done
            echo "$last" >"$record/running"
            mv "$record/arguments.tmp" "$record/arguments"
            exit 0 ;;
          *" --kill "*) rm -f "$record/running"; exit 0 ;;
        esac
        exit 0

        """
    }

    @Test("serve hands crunch-run exactly Arvados's command line and ConfigData, every field")
    func recordingRunnerThroughServe() async throws {
        let directory = try TemporaryDirectory(prefix: "runner-contract")
        defer { directory.remove() }
        let record = directory.file("record")
        try FileManager.default.createDirectory(atPath: record, withIntermediateDirectories: true)
        let runner = try directory.write(
            Self.recordingRunner(recordDirectory: record),
            to: "crunch-run",
            permissions: 0o755
        )
        var cluster = StandaloneCluster(dataDirectory: directory.file("data"), apiPort: try LoopbackPort.free())
        cluster.managementPort = try LoopbackPort.free()
        cluster.localKeepBlobBuffersPerVCPU = 2
        cluster.deployRunnerBinary = runner
        cluster.extraClusterYAML = """
                Collections:
                  BlobSigningTTL: 336h
                Volumes:
                  zzzzz-nyw5e-000000000000000:
                    Driver: Directory
            """
        let configPath = try directory.write(cluster.yaml, to: "config.yml")
        let daemon = try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve.log"))
        defer { daemon.process.signal(SIGKILL) }
        let client = ServeCommandTests.client(cluster)
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(daemon.logText)")

        let container = try await client.createContainer([
            "command": .array([.string("true")]),
            "container_image": .string("test-image"),
            "output_path": .string("/tmp"),
            "priority": .int(1),
            "runtime_constraints": .object(["vcpus": .int(2), "ram": .int(256 << 20)]),
        ])
        let arguments = await eventually(timeout: .seconds(60), interval: .milliseconds(100)) {
            try? String(contentsOfFile: record + "/arguments", encoding: .utf8)
        }
        let lines = try #require(arguments, "the runner was never started: \(daemon.logText)").split(separator: "\n")
        // `<DeployRunnerDirectory>/crunch-run~<md5> --detach --stdin-config '--runtime-engine=<engine>' '<uuid>'`
        #expect(lines.first?.hasPrefix(cluster.dataDirectory + "/runner/crunch-run~") == true, "\(lines)")
        #expect(
            Array(lines.dropFirst()) == ["--detach", "--stdin-config", "--runtime-engine=process", "\(container.uuid)"]
        )
        let stdin = try Data(contentsOf: URL(fileURLWithPath: record + "/stdin.json"))
        let document = try #require(try JSONSerialization.jsonObject(with: stdin) as? [String: Any])
        let env = try #require(document["Env"] as? [String: String])

        // ARVADOS_API_HOST is host:port (crunch-run prepends https://); the plain-HTTP scheme goes apart.
        #expect(env["ARVADOS_API_HOST"] == "127.0.0.1:\(cluster.apiPort)")
        #expect(document["APIScheme"] as? String == "http")
        #expect(env["ARVADOS_API_TOKEN"] == cluster.rootToken)
        #expect(env["ARVADOS_API_HOST_INSECURE"] == nil)
        #expect(env["GatewayAddress"] == "127.0.0.1:0")
        #expect(
            env["GatewayAuthSecret"]
                == (try await Self.hmacSHA256Hex(key: cluster.rootToken, message: "\(container.uuid)"))
        )
        // InstanceType: Arvados's JSON of the type, indented.
        let typeText = try #require(env["InstanceType"])
        #expect(typeText.contains("\n    "), "not indented: \(typeText)")
        let type = try #require(try JSONSerialization.jsonObject(with: Data(typeText.utf8)) as? [String: Any])
        #expect(type["ProviderType"] as? String == "medium")
        #expect(type["VCPUs"] as? Int == 2)
        #expect(type["RAM"] as? Int == 2 << 30)
        #expect(type["Price"] as? Double == 0.02)
        #expect(type["Preemptible"] as? Bool == false)
        #expect(type["Name"] == nil && type["Scratch"] == nil)
        #expect(
            Set(env.keys) == [
                "ARVADOS_API_HOST", "ARVADOS_API_TOKEN", "InstanceType", "GatewayAddress", "GatewayAuthSecret",
            ]
        )

        // LocalKeepBlobBuffersPerVCPU 2 on a 2-VCPU type: KeepBuffers 4 and the cluster in Arvados's shape.
        #expect(document["KeepBuffers"] as? Int == 4)
        #expect(document["EC2SpotCheck"] as? Bool == false)
        let clusterDocument = try #require(document["Cluster"] as? [String: Any])
        #expect(clusterDocument["ClusterID"] as? String == cluster.clusterID)
        #expect(clusterDocument["SystemRootToken"] as? String == cluster.rootToken)
        let services = try #require(clusterDocument["Services"] as? [String: [String: Any]])
        #expect(services["Controller"]?["ExternalURL"] as? String == cluster.apiURL)
        let containers = try #require(clusterDocument["Containers"] as? [String: Any])
        #expect(containers["LocalKeepBlobBuffersPerVCPU"] as? Int == 2)
        #expect(containers["RuntimeEngine"] as? String == "process")
        #expect(containers["StaleLockTimeout"] as? String == "10s")
        #expect(containers["DispatchPrivateKey"] == nil)
        let cloudVMs = try #require(containers["CloudVMs"] as? [String: Any])
        #expect(cloudVMs["Driver"] as? String == "loopback" && cloudVMs["DriverParameters"] == nil)
        let types = try #require(clusterDocument["InstanceTypes"] as? [String: [String: Any]])
        #expect(Set(types.keys) == ["small", "medium", "large"])
        #expect(types["large"]?["VCPUs"] as? Int == 4)
        #expect((clusterDocument["API"] as? [String: Any])?["MaxConcurrentRequests"] as? Int == 64)
        // Sections this dispatcher does not model go through as written.
        #expect((clusterDocument["Collections"] as? [String: Any])?["BlobSigningTTL"] as? String == "336h")
        #expect((clusterDocument["Volumes"] as? [String: Any])?["zzzzz-nyw5e-000000000000000"] != nil)
        // DispatchCloud's own record shortcut, which crunch-run ignores.
        #expect((document["Container"] as? [String: Any])?["uuid"] as? String == "\(container.uuid)")
        #expect(!daemon.logText.contains(cluster.rootToken), "the token reached the log")
    }

    /// Hex HMAC-SHA256, computed by `openssl` (an implementation independent of the dispatcher's).
    static func hmacSHA256Hex(key: String, message: String) async throws -> String {
        let result = try await ProcessRunner.run(
            URL(fileURLWithPath: "/bin/sh"),
            ["-c", "printf %s \"$1\" | openssl dgst -sha256 -hmac \"$2\" -r", "sh", message, key]
        )
        return String(result.stdout.prefix(while: { $0 != " " }))
    }
}
