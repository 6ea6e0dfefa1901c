import DispatchConfig
import DispatchModel
import Foundation
import Testing

@Suite("Loading the cluster configuration")
struct ClusterConfigLoadingTests {
    @Test("A minimal file gets every Arvados default of reference §4")
    func defaults() throws {
        let loaded = try #require(loadValid("Clusters:\n  z1234: {}\n"))
        #expect(loaded.warnings.isEmpty)
        let config = loaded.config
        #expect(config.clusterID == "z1234")
        #expect(config.systemRootToken.value == "")
        #expect(config.managementToken.value == "")
        #expect(config.services.controller.externalURL == "")
        #expect(config.services.controller.internalURLs.isEmpty)
        #expect(config.services.dispatchCloud.internalURLs.isEmpty)
        #expect(config.tls.insecure == false)
        #expect(config.api.maxConcurrentRequests == 64)
        #expect(config.instanceTypes.isEmpty)

        let containers = config.containers
        #expect(containers.crunchRunCommand == "crunch-run")
        #expect(containers.crunchRunArgumentsList == [])
        #expect(containers.runtimeEngine == "docker")
        #expect(containers.dispatchPrivateKey.value == "")
        #expect(containers.staleLockTimeout == .seconds(60))
        #expect(containers.reserveExtraRAM == ByteSize(550 << 20))
        #expect(containers.maximumPriceFactor == 1.5)
        #expect(containers.localKeepBlobBuffersPerVCPU == 1)
        #expect(containers.preemptiblePriceFactor == 0)
        #expect(containers.alwaysUsePreemptibleInstances == false)
        #expect(containers.maxDispatchAttempts == 10)

        let vms = containers.cloudVMs
        #expect(vms.enable == false)
        #expect(vms.sshPort == "22")
        #expect(vms.pollInterval == .seconds(10))
        #expect(vms.bootProbeCommand == "systemctl is-system-running")
        #expect(vms.probeInterval == .seconds(10))
        #expect(vms.maxProbesPerSecond == 10)
        #expect(vms.timeoutSignal == .seconds(5))
        #expect(vms.timeoutStaleRunLock == .seconds(5))
        #expect(vms.timeoutTERM == .seconds(120))
        #expect(vms.maxCloudOpsPerSecond == 10)
        #expect(vms.maxConcurrentInstanceCreateOps == 1)
        #expect(vms.maxInstances == 64)
        #expect(vms.maxRunningContainersPerInstance == 0)
        #expect(vms.initialQuotaEstimate == 0)
        #expect(vms.supervisorFraction == 0.5)
        #expect(vms.syncInterval == .seconds(60))
        #expect(vms.timeoutIdle == .seconds(60))
        #expect(vms.timeoutBooting == .seconds(600))
        #expect(vms.timeoutProbe == .seconds(600))
        #expect(vms.timeoutShutdown == .seconds(10))
        #expect(vms.imageID == "")
        #expect(vms.instanceInitCommand == "")
        #expect(vms.deployRunnerBinary == "/proc/self/exe")
        #expect(vms.deployRunnerDirectory == "/tmp/arvados-crunch-run")
        #expect(vms.deployPublicKey == true)
        #expect(vms.resourceTags == [:])
        #expect(vms.tagKeyPrefix == "Arvados")
        #expect(vms.driver == "ec2")
        #expect(vms.driverParameters.raw == .object([:]))

        #expect(config.dispatchCloud.dataDirectory == "/var/lib/dispatch-cloud")
        #expect(config.dispatchCloud.embeddedContainerAPI == false)
        #expect(config.dispatchCloud.insecurePlainHTTPOnPrivateNetwork == false)
        #expect(config.dispatchCloud.submitterTokens.isEmpty)
    }

    @Test("Every modelled key is read from the file")
    func readsEveryKey() throws {
        let yaml = cluster(
            """
            SystemRootToken: root-token
            ManagementToken: mgmt-token
            Services:
              Controller:
                ExternalURL: https://z1234.example.com
                InternalURLs:
                  http://10.0.0.1:8003: {ListenURL: "http://0.0.0.0:8003"}
              DispatchCloud:
                InternalURLs:
                  http://127.0.0.1:9006: {}
            TLS: {Insecure: true}
            API: {MaxConcurrentRequests: 8}
            Containers:
              CrunchRunCommand: /usr/bin/crunch-run
              CrunchRunArgumentsList: [--cgroup-parent-subsystem=cpu, -x]
              RuntimeEngine: singularity
              DispatchPrivateKey: inline-key
              StaleLockTimeout: 30s
              ReserveExtraRAM: 1GiB
              MaximumPriceFactor: 2
              LocalKeepBlobBuffersPerVCPU: 0
              PreemptiblePriceFactor: 0
              AlwaysUsePreemptibleInstances: true
              MaxDispatchAttempts: 3
              CloudVMs:
                Enable: true
                SSHPort: "2222"
                PollInterval: 1s
                BootProbeCommand: docker ps -q
                ProbeInterval: 2s
                MaxProbesPerSecond: 5
                TimeoutSignal: 6s
                TimeoutStaleRunLock: 7s
                TimeoutTERM: 3m
                MaxCloudOpsPerSecond: 0
                MaxConcurrentInstanceCreateOps: 20
                MaxInstances: 0
                MaxRunningContainersPerInstance: 4
                InitialQuotaEstimate: 12
                SupervisorFraction: 0.25
                SyncInterval: 30s
                TimeoutIdle: 1m30s
                TimeoutBooting: 15m
                TimeoutProbe: 5m
                TimeoutShutdown: 20s
                ImageID: ami-123
                InstanceInitCommand: echo hello
                DeployRunnerBinary: ""
                DeployRunnerDirectory: /var/lib/runner
                DeployPublicKey: false
                ResourceTags: {Owner: ops, Cost: "42"}
                TagKeyPrefix: Dispatch
                Driver: azure
            DispatchCloud:
              DataDirectory: /srv/dc
              EmbeddedContainerAPI: true
              InsecurePlainHTTPOnPrivateNetwork: true
              SubmitterTokens: [one, two]
            """
        )
        let loaded = try #require(loadValid(yaml))
        #expect(loaded.warnings == [])
        let config = loaded.config
        #expect(config.systemRootToken.value == "root-token")
        #expect(config.managementToken.value == "mgmt-token")
        #expect(config.services.controller.externalURL == "https://z1234.example.com")
        #expect(
            config.services.controller.internalURLs == [
                ClusterConfig.InternalURL(url: "http://10.0.0.1:8003", listenURL: "http://0.0.0.0:8003")
            ]
        )
        #expect(config.services.dispatchCloud.internalURLs.map(\.effectiveListenURL) == ["http://127.0.0.1:9006"])
        #expect(config.tls.insecure)
        #expect(config.api.maxConcurrentRequests == 8)
        let containers = config.containers
        #expect(containers.crunchRunCommand == "/usr/bin/crunch-run")
        #expect(containers.crunchRunArgumentsList == ["--cgroup-parent-subsystem=cpu", "-x"])
        #expect(containers.runtimeEngine == "singularity")
        #expect(containers.dispatchPrivateKey.value == "inline-key")
        #expect(containers.staleLockTimeout == .seconds(30))
        #expect(containers.reserveExtraRAM == .giB(1))
        #expect(containers.maximumPriceFactor == 2)
        #expect(containers.localKeepBlobBuffersPerVCPU == 0)
        #expect(containers.alwaysUsePreemptibleInstances)
        #expect(containers.maxDispatchAttempts == 3)
        let vms = containers.cloudVMs
        #expect(vms.enable)
        #expect(vms.sshPort == "2222")
        #expect(vms.pollInterval == .seconds(1))
        #expect(vms.bootProbeCommand == "docker ps -q")
        #expect(vms.probeInterval == .seconds(2))
        #expect(vms.maxProbesPerSecond == 5)
        #expect(vms.timeoutSignal == .seconds(6))
        #expect(vms.timeoutStaleRunLock == .seconds(7))
        #expect(vms.timeoutTERM == .seconds(180))
        #expect(vms.maxCloudOpsPerSecond == 0)
        #expect(vms.maxConcurrentInstanceCreateOps == 20)
        #expect(vms.maxInstances == 0)
        #expect(vms.maxRunningContainersPerInstance == 4)
        #expect(vms.initialQuotaEstimate == 12)
        #expect(vms.supervisorFraction == 0.25)
        #expect(vms.syncInterval == .seconds(30))
        #expect(vms.timeoutIdle == .seconds(90))
        #expect(vms.timeoutBooting == .seconds(900))
        #expect(vms.timeoutProbe == .seconds(300))
        #expect(vms.timeoutShutdown == .seconds(20))
        #expect(vms.imageID == "ami-123")
        #expect(vms.instanceInitCommand == "echo hello")
        #expect(vms.deployRunnerBinary == "")
        #expect(vms.deployRunnerDirectory == "/var/lib/runner")
        #expect(vms.deployPublicKey == false)
        #expect(vms.resourceTags == ["Owner": "ops", "Cost": "42"])
        #expect(vms.tagKeyPrefix == "Dispatch")
        #expect(vms.driver == "azure")
        #expect(config.dispatchCloud.dataDirectory == "/srv/dc")
        #expect(config.dispatchCloud.embeddedContainerAPI)
        #expect(config.dispatchCloud.insecurePlainHTTPOnPrivateNetwork)
        #expect(config.dispatchCloud.submitterTokens.map(\.value) == ["one", "two"])
    }

    @Test(
        "Byte sizes are read from YAML integers and Arvados size strings",
        arguments: [
            ("1073741824", ByteSize.giB(1)),
            ("4GiB", .giB(4)),
            ("4Gi", .giB(4)),
            ("550MiB", .miB(550)),
            ("2 GB", ByteSize(2_000_000_000)),
            ("\"1000\"", ByteSize(1000)),
            ("0", .zero),
        ]
    )
    func byteSizes(text: String, expected: ByteSize) throws {
        let loaded = try #require(loadValid(cluster("Containers:\n  ReserveExtraRAM: \(text)")))
        #expect(loaded.config.containers.reserveExtraRAM == expected)
    }

    @Test(
        "Invalid values name the key path, the problem and the line",
        arguments: [
            (
                "Containers:\n  CloudVMs:\n    TimeoutIdle: banana", "Containers.CloudVMs.TimeoutIdle",
                "\"banana\" is not a duration", 5
            ),
            (
                "Containers:\n  CloudVMs:\n    TimeoutIdle: 1 minute", "Containers.CloudVMs.TimeoutIdle",
                "\"1 minute\" is not a duration", 5
            ),
            ("Containers:\n  CloudVMs:\n    TimeoutIdle: 60", "Containers.CloudVMs.TimeoutIdle", "missing unit", 5),
            (
                "Containers:\n  CloudVMs:\n    MaxInstances: -1", "Containers.CloudVMs.MaxInstances",
                "must not be negative", 5
            ),
            (
                "Containers:\n  CloudVMs:\n    MaxInstances: \"12\"", "Containers.CloudVMs.MaxInstances",
                "expected an integer, got a string", 5
            ),
            (
                "Containers:\n  CloudVMs:\n    MaxInstances: 1.5", "Containers.CloudVMs.MaxInstances",
                "expected an integer", 5
            ),
            ("Containers:\n  CloudVMs:\n    Enable: maybe", "Containers.CloudVMs.Enable", "expected true or false", 5),
            (
                "Containers:\n  CloudVMs:\n    SSHPort: ssh", "Containers.CloudVMs.SSHPort", "is not a TCP port number",
                5
            ),
            (
                "Containers:\n  CloudVMs:\n    DriverParameters: [a]", "Containers.CloudVMs.DriverParameters",
                "expected a mapping", 5
            ),
            ("Containers:\n  CloudVMs: 3", "Containers.CloudVMs", "expected a mapping", 4),
            ("Containers:\n  MaximumPriceFactor: -0.5", "Containers.MaximumPriceFactor", "must not be negative", 4),
            ("Containers:\n  MaximumPriceFactor: cheap", "Containers.MaximumPriceFactor", "expected a number", 4),
            ("Containers:\n  ReserveExtraRAM: lots", "Containers.ReserveExtraRAM", "\"lots\" is not a byte size", 4),
            ("Containers:\n  ReserveExtraRAM: 1.5", "Containers.ReserveExtraRAM", "fractions are not allowed", 4),
            ("Containers:\n  CrunchRunArgumentsList: -x", "Containers.CrunchRunArgumentsList", "expected a list", 4),
            (
                "Services:\n  Controller:\n    ExternalURL: not a url", "Services.Controller.ExternalURL",
                "is not an absolute URL", 5
            ),
            ("InstanceTypes:\n  t1: {VCPUs: 0, RAM: 1GiB}", "InstanceTypes.t1.VCPUs", "must be greater than zero", 4),
            ("InstanceTypes:\n  t1: {RAM: 1GiB}", "InstanceTypes.t1.VCPUs", "must be greater than zero (missing)", 4),
            (
                "InstanceTypes:\n  t1: {VCPUs: 1, RAM: 1GiB, Price: -1}", "InstanceTypes.t1.Price",
                "must not be negative", 4
            ),
            ("InstanceTypes:\n  t1: {VCPUs: 1}", "InstanceTypes.t1.RAM", "must be greater than zero", 4),
            (
                "InstanceTypes:\n  t1:\n    VCPUs: 1\n    RAM: 1GiB\n    GPU: {Stack: opencl}",
                "InstanceTypes.t1.GPU.Stack", "is not a GPU stack", 7
            ),
            ("DispatchCloud:\n  DataDirectory: \"\"", "DispatchCloud.DataDirectory", "must not be empty", 4),
            (
                "DispatchCloud:\n  EmbeddedContainerAPI: 1", "DispatchCloud.EmbeddedContainerAPI",
                "expected true or false", 4
            ),
            ("DispatchCloud:\n  MaxHourlySpend: -2", "DispatchCloud.MaxHourlySpend", "must not be negative", 4),
            ("DispatchCloud:\n  MaxHourlySpend: lots", "DispatchCloud.MaxHourlySpend", "expected a number", 4),
            ("DispatchCloud:\n  MaxHourlySpend: .inf", "DispatchCloud.MaxHourlySpend", "finite", 4),
            ("DispatchCloud:\n  MaxSpendPerDay: -1", "DispatchCloud.MaxSpendPerDay", "must not be negative", 4),
        ]
    )
    func invalidValue(body: String, keyPath: String, message: String, line: Int) throws {
        let error = try #require(loadInvalid(cluster(body)))
        #expect(error.code == .invalid)
        let diagnostic = try #require(error.diagnostics.first)
        #expect(error.diagnostics.count == 1, "\(error.diagnostics)")
        #expect(diagnostic.keyPath == "Clusters.z1234.\(keyPath)")
        #expect(diagnostic.message.contains(message), "\(diagnostic.message)")
        #expect(diagnostic.line == line)
    }

    @Test("The TimeoutIdle: banana error reads as the CLI prints it")
    func bananaDescription() throws {
        let error = try #require(loadInvalid(cluster("Containers:\n  CloudVMs:\n    TimeoutIdle: banana")))
        #expect(
            error.diagnostics.map(\.description) == [
                "Clusters.z1234.Containers.CloudVMs.TimeoutIdle: \"banana\" is not a duration (line 5)"
            ]
        )
    }

    @Test("Every error in the file is reported in one pass, in file order")
    func collectsAllErrors() throws {
        let yaml = cluster(
            """
            Containers:
              MaximumPriceFactor: -1
              CloudVMs:
                TimeoutIdle: banana
                MaxInstances: lots
                TimeoutBooting: 10
            InstanceTypes:
              bad: {VCPUs: -2, RAM: 1GiB, Price: -3}
            """
        )
        let error = try #require(loadInvalid(yaml))
        #expect(
            error.diagnostics.map(\.keyPath) == [
                "Clusters.z1234.Containers.MaximumPriceFactor",
                "Clusters.z1234.Containers.CloudVMs.TimeoutIdle",
                "Clusters.z1234.Containers.CloudVMs.MaxInstances",
                "Clusters.z1234.Containers.CloudVMs.TimeoutBooting",
                "Clusters.z1234.InstanceTypes.bad.VCPUs",
                "Clusters.z1234.InstanceTypes.bad.Price",
            ]
        )
        #expect(error.diagnostics.map(\.line) == [4, 6, 7, 8, 10, 10])
        #expect(error.message.contains("6 configuration errors"))
    }

    @Test(
        "The file must hold exactly one well-formed cluster",
        arguments: [
            ("Clusters: {}\n", "Clusters", "no cluster configured"),
            ("Clusters:\n  z1234: {}\n  z5678: {}\n", "Clusters", "2 clusters configured (z1234, z5678)"),
            ("Other: 1\n", "Clusters", "missing"),
            ("", "Clusters", "missing"),
            ("Clusters: [a]\n", "Clusters", "expected a mapping"),
            ("just text\n", "configuration", "expected a mapping holding Clusters.<cluster id>, got a string"),
            ("Clusters:\n  Z-1: {}\n", "Clusters.Z-1", "five lowercase letters or digits"),
        ]
    )
    func clusterCount(yaml: String, keyPath: String, message: String) throws {
        let error = try #require(loadInvalid(yaml))
        #expect(error.diagnostics.contains { $0.keyPath == keyPath && $0.message.contains(message) }, "\(error)")
    }

    @Test("YAML syntax errors carry the line")
    func syntaxError() throws {
        let error = try #require(loadInvalid("Clusters:\n  z1234:\n    Containers: [\n"))
        #expect(error.code == .syntax)
        let diagnostic = try #require(error.diagnostics.first)
        #expect(diagnostic.message.hasPrefix("YAML syntax error"))
        #expect(diagnostic.line == 4)
    }

    @Test("Unitless zero durations, as number or string, mean zero")
    func unitlessZero() throws {
        let loaded = try #require(
            loadValid(cluster("Containers:\n  CloudVMs:\n    TimeoutIdle: 0\n    TimeoutProbe: \"0\""))
        )
        #expect(loaded.config.containers.cloudVMs.timeoutIdle == .zero)
        #expect(loaded.config.containers.cloudVMs.timeoutProbe == .zero)
    }

    @Test("A null value keeps the default")
    func nullKeepsDefault() throws {
        let loaded = try #require(loadValid(cluster("Containers:\n  CloudVMs:\n    TimeoutIdle:\n    MaxInstances: ~")))
        #expect(loaded.config.containers.cloudVMs.timeoutIdle == .seconds(60))
        #expect(loaded.config.containers.cloudVMs.maxInstances == 64)
    }
}

@Suite("Instance types in the configuration")
struct InstanceTypeConfigTests {
    @Test("Every instance-type field is read, GPU included, and ProviderType defaults to the name")
    func readsInstanceTypes() throws {
        let yaml = cluster(
            """
            InstanceTypes:
              gpu1:
                ProviderType: g5.xlarge
                VCPUs: 4
                RAM: 16GiB
                IncludedScratch: 250GB
                AddedScratch: 10GiB
                Price: 1.006
                Preemptible: true
                GPU:
                  Stack: cuda
                  DriverVersion: "12.4"
                  HardwareTarget: "8.6"
                  DeviceCount: 1
                  VRAM: 24GiB
              plain:
                VCPUs: 2
                RAM: 4294967296
                Price: 0.1
            """
        )
        let loaded = try #require(loadValid(yaml))
        #expect(loaded.warnings.isEmpty)
        let types = loaded.config.instanceTypes
        #expect(types.count == 2)
        #expect(
            types["gpu1"]
                == InstanceType(
                    name: "gpu1",
                    providerType: "g5.xlarge",
                    vcpus: 4,
                    ram: .giB(16),
                    includedScratch: ByteSize(250_000_000_000),
                    addedScratch: .giB(10),
                    price: 1.006,
                    preemptible: true,
                    gpu: GPUFeatures(
                        stack: "cuda",
                        driverVersion: "12.4",
                        hardwareTarget: "8.6",
                        deviceCount: 1,
                        vram: .giB(24)
                    )
                )
        )
        #expect(
            types["plain"] == InstanceType(name: "plain", providerType: "plain", vcpus: 2, ram: .giB(4), price: 0.1)
        )
    }

    @Test("A positive PreemptiblePriceFactor clones every non-preemptible type as <name>.preemptible")
    func preemptibleClones() throws {
        let yaml = cluster(
            """
            Containers: {PreemptiblePriceFactor: 0.5}
            InstanceTypes:
              a: {VCPUs: 1, RAM: 1GiB, Price: 0.2}
              b: {VCPUs: 2, RAM: 2GiB, Price: 0.4, ProviderType: b.large}
              spot: {VCPUs: 4, RAM: 4GiB, Price: 0.3, Preemptible: true}
            """
        )
        let types = try #require(loadValid(yaml)).config.instanceTypes
        #expect(Set(types.keys) == ["a", "b", "spot", "a.preemptible", "b.preemptible"])
        let clone = try #require(types["b.preemptible"])
        #expect(clone.preemptible)
        #expect(clone.price == 0.2)
        #expect(clone.providerType == "b.large")
        #expect(clone.vcpus == 2 && clone.ram == .giB(2))
        #expect(types["a.preemptible"]?.price == 0.1)
        #expect(types["a"]?.preemptible == false)
    }

    @Test("Without a PreemptiblePriceFactor no clones are made")
    func noClones() throws {
        let yaml = cluster("InstanceTypes:\n  a: {VCPUs: 1, RAM: 1GiB, Price: 0.2}")
        #expect(try #require(loadValid(yaml)).config.instanceTypes.keys.sorted() == ["a"])
    }

    @Test("The legacy total Scratch is split into included and added scratch")
    func legacyScratch() throws {
        let yaml = cluster("InstanceTypes:\n  a: {VCPUs: 1, RAM: 1GiB, Scratch: 100GiB, IncludedScratch: 40GiB}")
        let type = try #require(loadValid(yaml)?.config.instanceTypes["a"])
        #expect(type.includedScratch == .giB(40))
        #expect(type.addedScratch == .giB(60))
    }

    @Test("The chooser built from the configuration uses its menu and overheads")
    func chooser() throws {
        let yaml = cluster(
            """
            Containers: {MaximumPriceFactor: 2, ReserveExtraRAM: 100MiB, LocalKeepBlobBuffersPerVCPU: 0, PreemptiblePriceFactor: 0.5}
            InstanceTypes:
              a: {VCPUs: 1, RAM: 1GiB, Price: 0.2}
              b: {VCPUs: 2, RAM: 2GiB, Price: 0.1}
            """
        )
        let chooser = try #require(loadValid(yaml)).config.instanceTypeChooser
        #expect(chooser.types.map(\.name) == ["b.preemptible", "a.preemptible", "b", "a"])
        #expect(chooser.maximumPriceFactor == 2)
        #expect(chooser.reserveExtraRAM == .miB(100))
        #expect(chooser.localKeepBlobBuffersPerVCPU == 0)
    }
}

@Suite("Secrets, keys and driver parameters")
struct SecretConfigTests {
    @Test("A file:// DispatchPrivateKey is replaced by the file's contents")
    func privateKeyFromFile() throws {
        try withTemporaryDirectory { directory in
            let keyPath = directory + "/id_ed25519"
            let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
            try writeFile(keyPath, key)
            let loaded = try #require(loadValid(cluster("Containers:\n  DispatchPrivateKey: file://\(keyPath)")))
            #expect(loaded.config.containers.dispatchPrivateKey.value == key)
        }
    }

    @Test("An unreadable file:// DispatchPrivateKey is an error naming the key, the file and the reason")
    func privateKeyFileMissing() throws {
        try withTemporaryDirectory { directory in
            let url = "file://\(directory)/missing"
            let error = try #require(loadInvalid(cluster("Containers:\n  DispatchPrivateKey: \(url)")))
            #expect(
                error.diagnostics.map(\.description) == [
                    "Clusters.z1234.Containers.DispatchPrivateKey: cannot read \(url): No such file or directory (line 4)"
                ]
            )
        }
    }

    @Test("A relative file: key path is rejected")
    func privateKeyRelative() throws {
        let error = try #require(loadInvalid(cluster("Containers:\n  DispatchPrivateKey: file://key.pem")))
        #expect(error.diagnostics.first?.message.contains("absolute path") == true)
    }

    @Test("DriverParameters are kept raw for the driver")
    func driverParametersRaw() throws {
        let yaml = cluster(
            """
            Containers:
              CloudVMs:
                Driver: ec2
                DriverParameters:
                  Region: us-east-1
                  SubnetID: [subnet-1, subnet-2]
                  EBSPrice: 0.1
                  SpotPriceUpdateInterval: 24h
                  Nested: {Flag: true, Count: 3, Nothing: null}
                  SomethingUnknown: kept
            """
        )
        let loaded = try #require(loadValid(yaml))
        #expect(loaded.warnings.isEmpty)
        #expect(
            loaded.config.containers.cloudVMs.driverParameters.raw
                == .object([
                    "Region": .string("us-east-1"),
                    "SubnetID": .array([.string("subnet-1"), .string("subnet-2")]),
                    "EBSPrice": .double(0.1),
                    "SpotPriceUpdateInterval": .string("24h"),
                    "Nested": .object(["Flag": .bool(true), "Count": .int(3), "Nothing": .null]),
                    "SomethingUnknown": .string("kept"),
                ])
        )
    }

    @Test("An unknown driver is not an error at load")
    func unknownDriver() throws {
        let loaded = try #require(loadValid(cluster("Containers:\n  CloudVMs:\n    Driver: gce")))
        #expect(loaded.config.containers.cloudVMs.driver == "gce")
    }

    @Test(
        "Secret-looking driver parameter keys are recognised",
        arguments: [
            ("SecretAccessKey", true), ("ClientSecret", true), ("AdminPassword", true), ("SessionToken", true),
            ("secret", true), ("AccessKeyID", false), ("Region", false), ("ClientID", false),
        ]
    )
    func secretKeys(key: String, isSecret: Bool) {
        #expect(DriverParameters.isSecretKey(key) == isSecret)
    }

    @Test("Secrets never print their value")
    func secretDescription() {
        let secret = Secret("hunter2")
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains("hunter2"))
        #expect("\(Secret(""))" == "\"\"")
        let parameters = DriverParameters(
            raw: .object(["SecretAccessKey": .string("hunter2"), "Region": .string("r")])
        )
        #expect(!"\(parameters)".contains("hunter2"))
        #expect("\(parameters)".contains("Region"))
    }
}

@Suite("Unknown keys")
struct UnknownKeyTests {
    @Test("Unknown keys inside modelled sections are warnings with path and line")
    func unknownKeysWarn() throws {
        let yaml = cluster(
            """
            Containers:
              CloudVMs:
                TimeoutIdel: 1m
              Frobnicate: true
            InstanceTypes:
              a: {VCPUs: 1, RAM: 1GiB, Colour: blue}
            DispatchCloud:
              DataDirectroy: /tmp
            Contianers: {}
            """
        )
        let loaded = try #require(loadValid(yaml))
        #expect(
            loaded.warnings.map(\.description) == [
                "Clusters.z1234.Containers.CloudVMs.TimeoutIdel: unknown key, ignored (line 5)",
                "Clusters.z1234.Containers.Frobnicate: unknown key, ignored (line 6)",
                "Clusters.z1234.InstanceTypes.a.Colour: unknown key, ignored (line 8)",
                "Clusters.z1234.DispatchCloud.DataDirectroy: unknown key, ignored (line 10)",
                "Clusters.z1234.Contianers: unknown key, ignored (line 11)",
            ]
        )
    }

    @Test("A spend cap below every instance type's price is a warning naming the key")
    func spendCapBelowEveryPrice() throws {
        let yaml = cluster(
            """
            InstanceTypes:
              a: {VCPUs: 1, RAM: 1GiB, Price: 0.5}
            DispatchCloud:
              MaxHourlySpend: 0.25
              MaxSpendPerDay: 12
            """
        )
        let loaded = try #require(loadValid(yaml))
        #expect(
            loaded.warnings.map(\.description) == [
                "Clusters.z1234.DispatchCloud.MaxHourlySpend: 0.25 is below the cheapest instance type's Price (0.5): "
                    + "no instance can start (line 6)"
            ]
        )
        #expect(loaded.config.dispatchCloud.maxHourlySpend == 0.25)
        #expect(loaded.config.dispatchCloud.maxSpendPerDay == 12)
    }

    @Test("Arvados sections and keys the dispatcher does not read load without warnings")
    func arvadosKeysAreSilent() throws {
        let yaml = cluster(
            """
            Collections: {BlobSigningKey: abc, BlobTrash: true}
            Users: {AutoSetupNewUsers: false}
            Login: {Test: {Enable: true}}
            PostgreSQL: {Connection: {host: localhost}}
            Volumes: {z1234-nyw5e-000000000000000: {Driver: Directory}}
            Services:
              Controller:
                ExternalURL: https://z1234.example.com
                InternalURLs: {"http://localhost:8003": {Rendezvous: ""}}
              Keepstore: {InternalURLs: {"http://keep0:25107": {}}}
              Workbench2: {ExternalURL: https://workbench.example.com}
            API: {MaxItemsPerResponse: 1000, RequestTimeout: 5m}
            TLS: {Certificate: /etc/cert.pem, Key: /etc/key.pem}
            Containers:
              DefaultKeepCacheRAM: 256MiB
              Logging: {MaxAge: 720h}
              SLURM: {PrioritySpread: 0}
              LSF: {BsubSudoUser: crunch}
              ShellAccess: {Admin: true}
            """
        )
        let loaded = try #require(loadValid(yaml))
        #expect(loaded.warnings == [])
    }

    @Test("Warnings found before an error are kept with the error")
    func warningsWithErrors() throws {
        let error = try #require(loadInvalid(cluster("Containers:\n  Typo: 1\n  CloudVMs: {TimeoutIdle: x}")))
        #expect(error.warnings.map(\.keyPath) == ["Clusters.z1234.Containers.Typo"])
        #expect(error.diagnostics.map(\.keyPath) == ["Clusters.z1234.Containers.CloudVMs.TimeoutIdle"])
    }
}
