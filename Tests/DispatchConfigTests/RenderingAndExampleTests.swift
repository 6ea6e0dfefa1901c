import DispatchConfig
import DispatchModel
import Foundation
import Testing

@Suite("Rendering the effective configuration")
struct RenderingTests {
    static let secretYAML = cluster(
        """
        SystemRootToken: root-secret-value
        ManagementToken: ""
        Containers:
          DispatchPrivateKey: private-key-value
          PreemptiblePriceFactor: 0.5
          CloudVMs:
            DriverParameters:
              Region: us-east-1
              AccessKeyID: AKIAEXAMPLE
              SecretAccessKey: secret-access-value
              ClientSecret: client-secret-value
              AdminPassword: ""
              Nested: {SessionToken: session-token-value}
        InstanceTypes:
          a: {VCPUs: 1, RAM: 1GiB, Price: 0.2}
        DispatchCloud:
          SubmitterTokens: [submitter-token-value]
        """
    )

    @Test("Secrets are shown as <redacted> and empty secrets as \"\"")
    func redactsSecrets() throws {
        let config = try #require(loadValid(Self.secretYAML)).config
        let rendered = try config.renderEffectiveYAML()
        for secret in [
            "root-secret-value", "private-key-value", "secret-access-value", "client-secret-value",
            "session-token-value", "submitter-token-value",
        ] {
            #expect(!rendered.contains(secret), "\(secret) leaked")
        }
        #expect(rendered.contains("SystemRootToken: <redacted>"))
        #expect(rendered.contains("ManagementToken: \"\""))
        #expect(rendered.contains("DispatchPrivateKey: <redacted>"))
        #expect(rendered.contains("SecretAccessKey: <redacted>"))
        #expect(rendered.contains("ClientSecret: <redacted>"))
        #expect(rendered.contains("AdminPassword: \"\""))
        #expect(rendered.contains("SessionToken: <redacted>"))
        #expect(rendered.contains("- <redacted>"))
        #expect(rendered.contains("AccessKeyID: AKIAEXAMPLE"))
    }

    @Test("Printing or dumping the loaded configuration shows no secret")
    func dumpRedacts() throws {
        let config = try #require(loadValid(Self.secretYAML)).config
        var dumped = ""
        dump(config, to: &dumped)
        let printed = "\(config) \(String(reflecting: config)) \(config.containers) \(config.containers.cloudVMs)"
        for secret in [
            "root-secret-value", "private-key-value", "secret-access-value", "client-secret-value",
            "session-token-value", "submitter-token-value",
        ] {
            #expect(!dumped.contains(secret), "\(secret) leaked through dump")
            #expect(!printed.contains(secret), "\(secret) leaked through description")
        }
        #expect(dumped.contains("us-east-1"))
    }

    @Test("Defaults, durations, sizes and preemptible clones appear in human form")
    func humanForm() throws {
        let config = try #require(loadValid(Self.secretYAML)).config
        let rendered = try config.renderEffectiveYAML()
        for line in [
            "TimeoutTERM: 2m", "TimeoutBooting: 10m", "TimeoutIdle: 1m", "PollInterval: 10s", "StaleLockTimeout: 1m",
            "ReserveExtraRAM: 550MiB", "RAM: 1GiB", "a.preemptible:", "Price: 0.1", "MaxInstances: 64",
            "SSHPort: \"22\"", "DataDirectory: /var/lib/dispatch-cloud",
        ] {
            #expect(rendered.contains(line), "missing \(line)")
        }
    }

    @Test("Loading the rendered configuration gives the same configuration")
    func roundTrip() throws {
        let original = try #require(
            loadValid(
                cluster(
                    """
                    Containers:
                      CloudVMs:
                        TimeoutIdle: 1h30s
                        BootProbeCommand: "yes"
                        ImageID: "123"
                        ResourceTags: {A: "true"}
                        DriverParameters: {Region: r, Count: 3, List: [1, two]}
                    InstanceTypes:
                      odd: {VCPUs: 3, RAM: 1000000000, Price: 0.3, GPU: {Stack: rocm, HardwareTarget: gfx1100, DeviceCount: 2, VRAM: 16GiB}}
                    """
                )
            )
        ).config
        let rendered = try original.renderEffectiveYAML()
        let reloaded = try ClusterConfig.load(yaml: rendered)
        #expect(reloaded.warnings == [])
        #expect(reloaded.config.containers == original.containers)
        #expect(reloaded.config.instanceTypes == original.instanceTypes)
        #expect(reloaded.config.dispatchCloud == original.dispatchCloud)
        #expect(try reloaded.config.renderEffectiveYAML() == rendered)
    }

    /// Words a YAML 1.1 reader takes for something other than a string, or nearly so: each must come back as the
    /// same string after rendering (the renderer writes most words without asking the resolver).
    static let trickyWords = [
        "yes", "Yes", "YES", "no", "No", "y", "Y", "n", "N", "on", "On", "OFF", "off", "true", "False", "null",
        "Null", "NULL", "e5", "E10", "inf", "Infinity", "nan", "NaN", "x1", "o17", "b101", "m5.large", "a-b_c.d",
        "yesno", "nullable", "offset", "Ontario", "True1", "y2k",
    ]

    @Test("Words that YAML could read as booleans, null or numbers come back as the same strings")
    func trickyWordsRoundTrip() throws {
        let types = Self.trickyWords.enumerated().map { index, word in
            "  t\(index): {ProviderType: \"\(word)\", VCPUs: 1, RAM: 1GiB, Price: 0.1}"
        }
        let original = try #require(
            loadValid(
                cluster(
                    "Containers:\n  CloudVMs:\n    ImageID: yes-image\nInstanceTypes:\n" + types.joined(separator: "\n")
                )
            )
        ).config
        let rendered = try original.renderEffectiveYAML()
        let reloaded = try ClusterConfig.load(yaml: rendered).config
        for (index, word) in Self.trickyWords.enumerated() {
            let name = InstanceTypeName(rawValue: "t\(index)")
            #expect(reloaded.instanceTypes[name]?.providerType == word, "\(word)")
        }
        #expect(reloaded.instanceTypes == original.instanceTypes)
    }
}

@Suite("Example configurations")
struct ExampleConfigTests {
    /// The repository root, found from this file's path.
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("Each example loads with no errors and no warnings", arguments: ["standalone.yml", "ec2.yml"])
    func examplesLoadCleanly(name: String) throws {
        let path = Self.repositoryRoot.appendingPathComponent("examples/\(name)").path
        let loaded = try ClusterConfig.load(contentsOfFile: path)
        #expect(loaded.warnings == [])
        #expect(!loaded.config.instanceTypes.isEmpty)
        _ = try loaded.config.renderEffectiveYAML()
    }

    @Test("The standalone example runs the loopback driver with the embedded API on loopback addresses")
    func standalone() throws {
        let path = Self.repositoryRoot.appendingPathComponent("examples/standalone.yml").path
        let config = try ClusterConfig.load(contentsOfFile: path).config
        #expect(config.containers.cloudVMs.driver == "loopback")
        #expect(config.dispatchCloud.embeddedContainerAPI)
        #expect(config.services.controller.externalURL == "http://127.0.0.1:9005")
        #expect(config.services.dispatchCloud.internalURLs.map(\.url) == ["http://127.0.0.1:9006"])
        #expect((3...4).contains(config.instanceTypes.count))
        #expect(!config.systemRootToken.isEmpty && !config.managementToken.isEmpty)
    }

    @Test("The EC2 example has realistic driver parameters and preemptible variants")
    func ec2() throws {
        let path = Self.repositoryRoot.appendingPathComponent("examples/ec2.yml").path
        let config = try ClusterConfig.load(contentsOfFile: path).config
        #expect(config.containers.cloudVMs.driver == "ec2")
        guard case .object(let parameters) = config.containers.cloudVMs.driverParameters.raw else {
            Issue.record("DriverParameters is not an object")
            return
        }
        for key in ["Region", "SubnetID", "SecurityGroupIDs", "AdminUsername", "EBSVolumeType"] {
            #expect(parameters[key] != nil, "missing \(key)")
        }
        #expect(config.instanceTypes["m5.large.preemptible"]?.preemptible == true)
    }

    @Test("A missing file is an unreadable-file error naming the file")
    func missingFile() throws {
        #expect {
            try ClusterConfig.load(contentsOfFile: "/nonexistent/dispatch-cloud.yml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.code == .unreadableFile
                && error.message
                    == "cannot read configuration file /nonexistent/dispatch-cloud.yml: No such file or directory"
        }
    }
}
