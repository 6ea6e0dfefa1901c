import DispatchModel
import Yams

extension ClusterConfig {
    /// The whole effective configuration as YAML, in the shape of the file it came from.
    ///
    /// Defaults are filled in, the derived `<name>.preemptible` instance types are included, durations and
    /// sizes are written in human form (`1m`, `550MiB`), and every secret — `SystemRootToken`,
    /// `ManagementToken`, `Containers.DispatchPrivateKey`, `DispatchCloud.SubmitterTokens` and secret-looking
    /// `DriverParameters` keys — is written as `<redacted>` (an empty secret as `""`), and the credentials of
    /// a service URL as `***`. Loading the output again gives the same configuration, secrets aside.
    public func renderEffectiveYAML() throws -> String {
        let cluster = Self.mapping([
            ("SystemRootToken", Self.secret(self.systemRootToken)),
            ("ManagementToken", Self.secret(self.managementToken)),
            (
                "Services",
                Self.mapping([
                    ("Controller", Self.service(self.services.controller)),
                    ("DispatchCloud", Self.service(self.services.dispatchCloud)),
                ])
            ),
            (
                "TLS",
                Self.mapping([
                    ("Certificate", Self.string(self.tls.certificate)),
                    ("Insecure", Self.bool(self.tls.insecure)),
                    ("Key", Self.secret(self.tls.key)),
                ])
            ),
            ("API", Self.mapping([("MaxConcurrentRequests", Self.int(self.api.maxConcurrentRequests))])),
            ("Containers", Self.containers(self.containers)),
            ("InstanceTypes", Self.mapping(self.sortedInstanceTypes.map { ($0.name.rawValue, Self.instanceType($0)) })),
            (
                "DispatchCloud",
                Self.mapping([
                    ("DataDirectory", Self.string(self.dispatchCloud.dataDirectory)),
                    ("EmbeddedContainerAPI", Self.bool(self.dispatchCloud.embeddedContainerAPI)),
                    (
                        "InsecurePlainHTTPOnPrivateNetwork",
                        Self.bool(self.dispatchCloud.insecurePlainHTTPOnPrivateNetwork)
                    ),
                    ("SubmitterTokens", Self.sequence(self.dispatchCloud.submitterTokens.map(Self.secret))),
                    ("JournalRetention", Self.duration(self.dispatchCloud.journalRetention)),
                    (
                        "BootQuarantine",
                        Self.mapping([
                            ("Failures", Self.int(self.dispatchCloud.bootQuarantine.failures)),
                            ("Window", Self.duration(self.dispatchCloud.bootQuarantine.window)),
                            ("Cooldown", Self.duration(self.dispatchCloud.bootQuarantine.cooldown)),
                            ("MaxCooldown", Self.duration(self.dispatchCloud.bootQuarantine.maxCooldown)),
                        ])
                    ),
                    ("MaxHourlySpend", Self.double(self.dispatchCloud.maxHourlySpend)),
                    ("MaxSpendPerDay", Self.double(self.dispatchCloud.maxSpendPerDay)),
                    ("SpotFallbackAfter", Self.duration(self.dispatchCloud.spotFallbackAfter)),
                    ("PreemptionBudget", Self.int(self.dispatchCloud.preemptionBudget)),
                    (
                        "ProcessSandbox",
                        Self.mapping([
                            ("Mode", Self.string(self.dispatchCloud.processSandbox.mode.rawValue)),
                            ("User", Self.string(self.dispatchCloud.processSandbox.user)),
                            (
                                "ReadOnlyPaths",
                                Self.sequence(self.dispatchCloud.processSandbox.readOnlyPaths.map(Self.string))
                            ),
                        ])
                    ),
                ])
            ),
        ])
        let document = Self.mapping([("Clusters", Self.mapping([(self.clusterID.rawValue, cluster)]))])
        return try Yams.serialize(node: document, width: -1)
    }

    private static func containers(_ containers: Containers) -> Node {
        let vms = containers.cloudVMs
        let cloudVMs = Self.mapping([
            ("Enable", Self.bool(vms.enable)),
            ("SSHPort", Self.string(vms.sshPort)),
            ("PollInterval", Self.duration(vms.pollInterval)),
            ("BootProbeCommand", Self.string(vms.bootProbeCommand)),
            ("ProbeInterval", Self.duration(vms.probeInterval)),
            ("MaxProbesPerSecond", Self.int(vms.maxProbesPerSecond)),
            ("TimeoutSignal", Self.duration(vms.timeoutSignal)),
            ("TimeoutStaleRunLock", Self.duration(vms.timeoutStaleRunLock)),
            ("TimeoutTERM", Self.duration(vms.timeoutTERM)),
            ("MaxCloudOpsPerSecond", Self.int(vms.maxCloudOpsPerSecond)),
            ("MaxConcurrentInstanceCreateOps", Self.int(vms.maxConcurrentInstanceCreateOps)),
            ("MaxInstances", Self.int(vms.maxInstances)),
            ("MaxRunningContainersPerInstance", Self.int(vms.maxRunningContainersPerInstance)),
            ("InitialQuotaEstimate", Self.int(vms.initialQuotaEstimate)),
            ("SupervisorFraction", Self.double(vms.supervisorFraction)),
            ("SyncInterval", Self.duration(vms.syncInterval)),
            ("TimeoutIdle", Self.duration(vms.timeoutIdle)),
            ("TimeoutBooting", Self.duration(vms.timeoutBooting)),
            ("TimeoutProbe", Self.duration(vms.timeoutProbe)),
            ("TimeoutShutdown", Self.duration(vms.timeoutShutdown)),
            ("ImageID", Self.string(vms.imageID.rawValue)),
            ("InstanceInitCommand", Self.string(vms.instanceInitCommand)),
            ("DeployRunnerBinary", Self.string(vms.deployRunnerBinary)),
            ("DeployRunnerDirectory", Self.string(vms.deployRunnerDirectory)),
            ("DeployPublicKey", Self.bool(vms.deployPublicKey)),
            (
                "ResourceTags",
                Self.mapping(vms.resourceTags.sorted { $0.key < $1.key }.map { ($0.key, Self.string($0.value)) })
            ),
            ("TagKeyPrefix", Self.string(vms.tagKeyPrefix)),
            ("Driver", Self.string(vms.driver)),
            ("DriverParameters", Self.json(vms.driverParameters.redacted)),
        ])
        return Self.mapping([
            ("CrunchRunCommand", Self.string(containers.crunchRunCommand)),
            ("CrunchRunArgumentsList", Self.sequence(containers.crunchRunArgumentsList.map(Self.string))),
            ("RuntimeEngine", Self.string(containers.runtimeEngine)),
            ("DispatchPrivateKey", Self.secret(containers.dispatchPrivateKey)),
            ("StaleLockTimeout", Self.duration(containers.staleLockTimeout)),
            ("ReserveExtraRAM", Self.byteSize(containers.reserveExtraRAM)),
            ("MaximumPriceFactor", Self.double(containers.maximumPriceFactor)),
            ("LocalKeepBlobBuffersPerVCPU", Self.int(containers.localKeepBlobBuffersPerVCPU)),
            ("PreemptiblePriceFactor", Self.double(containers.preemptiblePriceFactor)),
            ("AlwaysUsePreemptibleInstances", Self.bool(containers.alwaysUsePreemptibleInstances)),
            ("MaxDispatchAttempts", Self.int(containers.maxDispatchAttempts)),
            ("CloudVMs", cloudVMs),
        ])
    }

    private static func service(_ service: Service) -> Node {
        // A URL's credentials (`https://user:token@host/`) are secrets: written as `***`.
        let urls = service.internalURLs.map { internalURL in
            let listen = URLCredentials.elided(in: internalURL.listenURL)
            let settings: [(String, Node)] = listen.isEmpty ? [] : [("ListenURL", Self.string(listen))]
            return (URLCredentials.elided(in: internalURL.url), Self.mapping(settings))
        }
        return Self.mapping([
            ("ExternalURL", Self.string(URLCredentials.elided(in: service.externalURL))),
            ("InternalURLs", Self.mapping(urls)),
        ])
    }

    private static func instanceType(_ type: InstanceType) -> Node {
        var fields: [(String, Node)] = [
            ("ProviderType", Self.string(type.providerType)),
            ("VCPUs", Self.int(type.vcpus)),
            ("RAM", Self.byteSize(type.ram)),
            ("IncludedScratch", Self.byteSize(type.includedScratch)),
            ("AddedScratch", Self.byteSize(type.addedScratch)),
            ("Price", Self.double(type.price)),
            ("Preemptible", Self.bool(type.preemptible)),
        ]
        if type.gpu != .none {
            fields.append(
                (
                    "GPU",
                    Self.mapping([
                        ("Stack", Self.string(type.gpu.stack)),
                        ("DriverVersion", Self.string(type.gpu.driverVersion)),
                        ("HardwareTarget", Self.string(type.gpu.hardwareTarget)),
                        ("DeviceCount", Self.int(type.gpu.deviceCount)),
                        ("VRAM", Self.byteSize(type.gpu.vram)),
                    ])
                )
            )
        }
        return Self.mapping(fields)
    }

    // MARK: Nodes

    private static func mapping(_ pairs: [(String, Node)]) -> Node {
        .mapping(Node.Mapping(pairs.map { (Self.string($0.0), $0.1) }))
    }

    private static func sequence(_ nodes: [Node]) -> Node {
        .sequence(Node.Sequence(nodes))
    }

    /// A string, quoted when written plain it would read back as something else (`yes`, `10`, `~`, empty).
    private static func string(_ text: String) -> Node {
        if Self.isPlainWord(text) { return Node(text, Tag(.str)) }
        let plain = Node(text)
        if text.isEmpty || Resolver.default.resolveTag(of: plain) != .str {
            return Node(text, Tag(.str), .doubleQuoted)
        }
        return Node(text, Tag(.str))
    }

    /// YAML 1.1's words for booleans and null, which a plain scalar must not be (compared lowercased).
    private static let reservedWords: Set<String> = ["y", "n", "yes", "no", "true", "false", "on", "off", "null"]

    /// Whether `text` reads back as the same string when written plain, decided without the resolver's regular
    /// expressions (most of the cost of rendering 20,000 instance types): an ASCII letter, then letters, digits,
    /// `_`, `.` or `-`, and not a boolean or null word. No number, timestamp or special float starts with a letter.
    static func isPlainWord(_ text: String) -> Bool {
        let bytes = text.utf8
        guard let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first | 0x20) else {
            return false
        }
        let allowed = bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
        return allowed && (bytes.count > 5 || !Self.reservedWords.contains(text.lowercased()))
    }

    private static func secret(_ secret: Secret) -> Node {
        Self.string(secret.isEmpty ? "" : Secret.redactedText)
    }

    private static func bool(_ value: Bool) -> Node { Node(value ? "true" : "false", Tag(.bool)) }
    private static func int(_ value: Int) -> Node { Node(String(value), Tag(.int)) }
    private static func double(_ value: Double) -> Node { Node(String(value), Tag(.float)) }
    private static func duration(_ value: Duration) -> Node { Self.string(GoDuration.format(value)) }

    /// `550MiB`, or a plain integer when no binary unit divides the size.
    private static func byteSize(_ value: ByteSize) -> Node {
        let text = value.description
        if text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }) { return Node(text, Tag(.int)) }
        return Self.string(text)
    }

    private static func json(_ value: JSONValue) -> Node {
        switch value {
        case .null: return Node("null", Tag(.null))
        case .bool(let flag): return Self.bool(flag)
        case .int(let number): return Node(String(number), Tag(.int))
        case .double(let number): return Self.double(number)
        case .string(let text): return Self.string(text)
        case .array(let elements): return Self.sequence(elements.map(Self.json))
        case .object(let members):
            return Self.mapping(members.keys.sorted().map { ($0, Self.json(members[$0]!)) })
        }
    }
}
