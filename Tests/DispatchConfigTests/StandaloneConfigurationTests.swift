import DispatchConfig
import DispatchModel
import Testing

/// `StandaloneConfiguration`: the one generator behind `demo`, the benchmarks and the end-to-end tests.
@Suite("StandaloneConfiguration")
struct StandaloneConfigurationTests {
    @Test("Every option lands on its key, and a nil timeout leaves Arvados's default")
    func everyOption() throws {
        var cluster = StandaloneConfiguration(
            dataDirectory: "/srv/dispatch",
            apiPort: 8443,
            rootToken: "root-token-1",
            submitterToken: "submitter-1",
            managementToken: "management-1"
        )
        cluster.clusterID = "abcde"
        cluster.scheme = "https"
        cluster.tlsCertificate = "file:///srv/cert.pem"
        cluster.tlsKey = "file:///srv/key.pem"
        cluster.managementPort = 9006
        cluster.driver = "simulated"
        cluster.driverParameters = "{BootTime: 3s}"
        cluster.maxInstances = 7
        cluster.timeoutIdle = "45s"
        cluster.timeoutSignal = nil
        cluster.processSandboxMode = "none"
        cluster.instanceTypesYAML = """
                  big:
                    VCPUs: 16
                    RAM: 64GiB
                    Price: 0.16
            """
        cluster.extraClusterYAML = "      MaxHourlySpend: 2.5"
        let config = try ClusterConfig.load(yaml: cluster.yaml, sourceName: "test").config

        #expect(config.clusterID.rawValue == "abcde")
        #expect(config.services.controller.externalURL == "https://127.0.0.1:8443")
        #expect(config.services.dispatchCloud.internalURLs.map(\.url) == ["https://127.0.0.1:9006"])
        #expect(config.tls.certificate == "file:///srv/cert.pem")
        #expect(config.containers.cloudVMs.driver == "simulated")
        #expect(config.containers.cloudVMs.maxInstances == 7)
        #expect(config.containers.cloudVMs.timeoutIdle == .seconds(45))
        #expect(config.containers.cloudVMs.timeoutSignal == ClusterConfig.CloudVMs().timeoutSignal)
        #expect(config.containers.cloudVMs.timeoutTERM == .seconds(10))
        #expect(config.containers.staleLockTimeout == .seconds(10))
        #expect(config.instanceTypes.keys.map(\.rawValue) == ["big"])
        #expect(config.dispatchCloud.dataDirectory == "/srv/dispatch")
        #expect(config.dispatchCloud.submitterTokens.map(\.value) == ["submitter-1"])
        #expect(config.dispatchCloud.processSandbox.mode == .none)
        #expect(config.dispatchCloud.maxHourlySpend == 2.5)
        #expect(config.managementToken.value == "management-1")
    }

    @Test("Empty tokens and unset options leave their keys out")
    func minimal() throws {
        let cluster = StandaloneConfiguration(dataDirectory: "/srv/d", apiPort: 1234, rootToken: "root-token-2")
        let yaml = cluster.yaml
        #expect(!yaml.contains("ManagementToken") && !yaml.contains("SubmitterTokens") && !yaml.contains("TLS"))
        #expect(!yaml.contains("ProcessSandbox") && !yaml.contains("DeployRunnerBinary"))
        let config = try ClusterConfig.load(yaml: yaml, sourceName: "test").config
        #expect(config.dispatchCloud.submitterTokens.isEmpty)
        #expect(config.services.dispatchCloud.internalURLs.isEmpty)
        #expect(config.instanceTypes.count == 3)
        #expect(config.containers.cloudVMs.driver == "loopback")
    }
}
