import DispatchModel
import Foundation
import Yams

extension ClusterConfig {
    /// Loads the only cluster of an Arvados-style configuration file.
    ///
    /// - Throws: ``ConfigError`` with code `unreadableFile` when the file cannot be read, `syntax` when it
    ///   is not YAML, `invalid` (with every problem found) when values are wrong.
    ///
    /// - Parameter checkingTransportSecurity: `false` skips the checks of the served URLs' schemes against
    ///   `TLS.Certificate` and `TLS.Key` (for `tls init`, which writes them).
    public static func load(
        contentsOfFile path: String,
        checkingTransportSecurity: Bool = true,
        overrides: [ConfigOverride] = []
    ) throws(ConfigError) -> LoadedClusterConfig {
        let text: String
        do {
            text = try readTextFile(atPath: path, limit: maxConfigurationFileBytes)
        } catch {
            throw ConfigError(
                code: .unreadableFile,
                message: "cannot read configuration file \(path): \(error.reason)",
                cause: error
            )
        }
        return try Self.load(
            yaml: text,
            sourceName: path,
            checkingTransportSecurity: checkingTransportSecurity,
            overrides: overrides
        )
    }

    /// Loads the only cluster of an Arvados-style configuration document.
    ///
    /// The document must hold `Clusters: {<id>: {...}}` with exactly one cluster. Missing keys take the
    /// Arvados defaults. Every error is collected before throwing; unknown keys inside the sections this
    /// dispatcher models are warnings (see `docs/configuration.md` for the rule).
    ///
    /// - Parameter sourceName: names the document in syntax errors, usually the file path.
    /// - Throws: ``ConfigError`` with code `syntax` or `invalid`.
    public static func load(
        yaml: String,
        sourceName: String = "configuration",
        checkingTransportSecurity: Bool = true,
        overrides: [ConfigOverride] = []
    ) throws(ConfigError)
        -> LoadedClusterConfig
    {
        if let problem = YAMLPrescan.check(yaml) {
            var diagnostic = problem
            if diagnostic.keyPath.isEmpty { diagnostic.keyPath = sourceName }
            throw ConfigError(
                code: .invalid,
                message: "\(sourceName): 1 configuration error",
                diagnostics: [diagnostic]
            )
        }
        var rootNode: Node?
        do {
            rootNode = try Yams.compose(yaml: yaml, ConfigReader.composeResolver)
            for override in overrides { rootNode = try override.applied(to: rootNode) }
        } catch let error as ConfigError {
            throw error
        } catch {
            let diagnostic = Self.syntaxDiagnostic(error, sourceName: sourceName)
            throw ConfigError(
                code: .syntax,
                message: "\(sourceName) is not valid YAML",
                diagnostics: [diagnostic],
                cause: error
            )
        }
        let reader = ConfigReader()
        reader.checksTransportSecurity = checkingTransportSecurity
        var config: ClusterConfig?
        switch rootNode {
        case .some(.mapping):
            if let rootNode, let root = reader.section(rootNode, at: "") {
                config = Self.readClusters(root, reader: reader)
                root.finish(known: ["AutoReloadConfig"])
            }
        case .some(let other):
            reader.error(
                sourceName,
                "expected a mapping holding Clusters.<cluster id>, got \(ConfigReader.kind(of: other, at: sourceName))",
                at: other
            )
        case .none:
            reader.error("Clusters", "missing: the file must hold Clusters.<cluster id>", line: nil)
        }
        let errors = Self.inFileOrder(reader.errors)
        let warnings = Self.inFileOrder(reader.warnings)
        guard errors.isEmpty, let config else {
            throw ConfigError(
                code: .invalid,
                message: "\(sourceName): \(errors.count) configuration error\(errors.count == 1 ? "" : "s")",
                diagnostics: errors,
                warnings: warnings
            )
        }
        return LoadedClusterConfig(config: config, warnings: warnings)
    }

    /// Diagnostics sorted by line, keeping the reading order among equal lines; unknown lines last.
    private static func inFileOrder(_ diagnostics: [ConfigDiagnostic]) -> [ConfigDiagnostic] {
        diagnostics.enumerated()
            .sorted { ($0.element.line ?? .max, $0.offset) < ($1.element.line ?? .max, $1.offset) }
            .map(\.element)
    }

    private static func syntaxDiagnostic(_ error: any Error, sourceName: String) -> ConfigDiagnostic {
        guard let yamlError = error as? YamlError else {
            return ConfigDiagnostic(keyPath: sourceName, message: "YAML syntax error")
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let while_ = context.map { " \($0.text)" } ?? ""
            return ConfigDiagnostic(
                keyPath: sourceName,
                message: "YAML syntax error: \(problem)\(while_)",
                line: mark.line
            )
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigDiagnostic(
                keyPath: sourceName,
                message: "YAML syntax error: duplicate key \(duplicates.joined(separator: ", ")) in a mapping",
                line: context.mark.line
            )
        case .reader(let problem, _, _, _):
            return ConfigDiagnostic(keyPath: sourceName, message: "YAML syntax error: \(problem)")
        default:
            // Other descriptions may quote the document, secrets included.
            return ConfigDiagnostic(keyPath: sourceName, message: "YAML syntax error")
        }
    }

    // MARK: Sections

    private static func readClusters(_ root: Section, reader: ConfigReader) -> ClusterConfig? {
        guard let clustersNode = root.take("Clusters") else {
            reader.error("Clusters", "missing: the file must hold Clusters.<cluster id>", line: nil)
            return nil
        }
        guard let clusters = reader.section(clustersNode, at: "Clusters") else { return nil }
        guard clusters.entries.count == 1, let entry = clusters.entries.first else {
            let message =
                clusters.entries.isEmpty
                ? "no cluster configured"
                : "\(clusters.entries.count) clusters configured (\(clusters.entries.map(\.key).joined(separator: ", "))); exactly one is supported"
            reader.error("Clusters", message, at: clustersNode)
            return nil
        }
        let clusterID = ClusterID(rawValue: entry.key)
        let path = clusters.path(entry.key)
        if !clusterID.isWellFormed {
            reader.error(path, "a cluster ID is five lowercase letters or digits", line: entry.keyLine)
        }
        var config = ClusterConfig(clusterID: clusterID)
        guard let cluster = clusters.section(entry.key, reader: reader) else { return config }
        Self.readCluster(cluster, into: &config, reader: reader)
        return config
    }

    /// Arvados's cluster sections this dispatcher does not read: silently ignored.
    static let unmodelledClusterSections: Set<String> = [
        "AuditLogs", "Collections", "ForceLegacyAPI14", "Git", "Login", "Mail", "PostgreSQL", "RemoteClusters",
        "SourceSHA256", "SourceTimestamp", "StorageClasses", "SystemLogs", "Users", "Volumes", "Workbench",
    ]

    private static func readCluster(_ cluster: Section, into config: inout ClusterConfig, reader: ConfigReader) {
        if let value = cluster.string("SystemRootToken") { config.systemRootToken = Secret(value) }
        if let value = cluster.string("ManagementToken") { config.managementToken = Secret(value) }
        if let section = reader.section(cluster, "Services") {
            Self.readServices(section, into: &config.services, reader: reader)
        }
        if let section = reader.section(cluster, "TLS") {
            if let value = section.bool("Insecure") { config.tls.insecure = value }
            Self.readTLSMaterial(section, into: &config.tls, reader: reader)
            section.finish(known: ["ACME"])
        }
        if let section = reader.section(cluster, "API") {
            if let value = section.nonNegativeInt("MaxConcurrentRequests") { config.api.maxConcurrentRequests = value }
            section.finish(known: Self.unmodelledAPIKeys)
        }
        if let section = reader.section(cluster, "Containers") {
            Self.readContainers(section, into: &config.containers, reader: reader)
        }
        if let section = reader.section(cluster, "InstanceTypes") {
            config.instanceTypes = Self.readInstanceTypes(section, reader: reader)
        }
        if config.containers.preemptiblePriceFactor > 0 {
            for type in config.instanceTypes.values where !type.preemptible {
                let variant = type.preemptibleVariant(priceFactor: config.containers.preemptiblePriceFactor)
                if config.instanceTypes[variant.name] == nil { config.instanceTypes[variant.name] = variant }
            }
        }
        Self.checkOverheads(config, cluster, reader: reader)
        if let section = reader.section(cluster, "DispatchCloud") {
            Self.readDispatchCloud(section, into: &config.dispatchCloud, reader: reader)
            Self.checkSpendCaps(config, section, reader: reader)
        }
        Self.checkTransportSecurity(config, cluster, reader: reader)
        for key in Self.unmodelledClusterSections.sorted() {
            if let node = cluster.take(key) { config.passthroughSections.sections[key] = reader.json(node) }
        }
        cluster.finish(known: Self.unmodelledClusterSections)
    }

    /// Checks the settings that add to every container's needs the way `serve` applies them: through the
    /// instance-type chooser. A container asking for one VCPU and no RAM must fit some instance type (else
    /// no container can ever run), no type's VCPUs may make the RAM sum overflow, and every derived price
    /// must be finite.
    private static func checkOverheads(_ config: ClusterConfig, _ cluster: Section, reader: ConfigReader) {
        let containersLine = cluster.line(of: "Containers")
        let path = cluster.path("Containers.ReserveExtraRAM")
        for type in config.instanceTypes.values where !type.price.isFinite {
            reader.error(
                cluster.path("Containers.PreemptiblePriceFactor"),
                "makes the price of \(type.name) overflow (\(type.price))",
                line: containersLine
            )
        }
        guard !config.instanceTypes.isEmpty else { return }
        let chooser = InstanceTypeChooser(
            types: [],
            maximumPriceFactor: config.containers.maximumPriceFactor,
            reserveExtraRAM: config.containers.reserveExtraRAM,
            localKeepBlobBuffersPerVCPU: config.containers.localKeepBlobBuffersPerVCPU
        )
        func need(vcpus: Int) -> ByteSize {
            let probe = Container(
                uuid: ContainerUUID(rawValue: "\(config.clusterID)-dz642-000000000000000"),
                runtimeConstraints: RuntimeConstraints(vcpus: vcpus, ram: 0)
            )
            return chooser.resourcesNeeded(for: probe).ram
        }
        let widest = config.instanceTypes.values.map(\.vcpus).max() ?? 1
        if need(vcpus: widest).bytes == .max {
            reader.error(
                path,
                "ReserveExtraRAM (\(config.containers.reserveExtraRAM)) plus LocalKeepBlobBuffersPerVCPU "
                    + "(\(config.containers.localKeepBlobBuffersPerVCPU)) buffers per VCPU for \(widest) VCPUs, "
                    + "divided by 0.95, overflows a 64-bit byte count",
                line: containersLine
            )
            return
        }
        let smallest = need(vcpus: 1)
        let largestRAM = config.instanceTypes.values.map(\.ram).max() ?? .zero
        if smallest > largestRAM {
            reader.error(
                path,
                "no instance type can run any container: one asking for 1 VCPU and no RAM needs \(smallest) "
                    + "(ReserveExtraRAM, the local keepstore's buffers, divided by 0.95), and the largest type "
                    + "has \(largestRAM)",
                line: containersLine
            )
        }
    }

    /// Arvados's services other than the two the dispatcher uses: silently ignored.
    static let unmodelledServices: Set<String> = [
        "Composer", "ContainerWebServices", "DispatchLSF", "DispatchSLURM", "GitHTTP", "GitSSH", "Health",
        "Keepbalance", "Keepproxy", "Keepstore", "Nodemanager", "RailsAPI", "SSO", "WebDAV", "WebDAVDownload",
        "WebShell", "Websocket", "Workbench1", "Workbench2",
    ]

    private static func readServices(_ section: Section, into services: inout Services, reader: ConfigReader) {
        if let controller = reader.section(section, "Controller") {
            services.controller = Self.readService(controller, reader: reader)
        }
        if let dispatchCloud = reader.section(section, "DispatchCloud") {
            services.dispatchCloud = Self.readService(dispatchCloud, reader: reader)
        }
        section.finish(known: Self.unmodelledServices)
    }

    private static func readService(_ section: Section, reader: ConfigReader) -> Service {
        var service = Service()
        if let value = section.string("ExternalURL"), Self.checkURL(value, section, "ExternalURL", reader: reader) {
            service.externalURL = value
        }
        if let urls = reader.section(section, "InternalURLs") {
            for entry in urls.entries {
                guard Self.checkURL(entry.key, urls, entry.key, reader: reader) else {
                    _ = urls.take(entry.key)
                    continue
                }
                var internalURL = InternalURL(url: entry.key)
                if let settings = reader.section(urls, entry.key) {
                    if let listen = settings.string("ListenURL"),
                        Self.checkURL(listen, settings, "ListenURL", reader: reader)
                    {
                        internalURL.listenURL = listen
                    }
                    settings.finish(known: ["Rendezvous"])
                }
                service.internalURLs.append(internalURL)
            }
            service.internalURLs.sort()
        }
        section.finish()
        return service
    }

    /// Whether `value` is empty, `-` (Arvados's "not applicable") or an absolute URL whose port, if any, is
    /// a TCP port (1-65535); records an error if not. Messages never show the URL's credentials.
    private static func checkURL(_ value: String, _ section: Section, _ key: String, reader: ConfigReader) -> Bool {
        if value.isEmpty || value == "-" { return true }
        let shown = "\"\(ConfigReader.shortened(URLCredentials.displayed(value)))\""
        // An InternalURLs entry's key is the URL itself.
        let path = section.path(key == value ? URLCredentials.displayed(key) : key)
        guard let url = URL(string: value), url.scheme != nil, url.host != nil else {
            reader.error(path, "\(shown) is not an absolute URL", line: section.line(of: key))
            return false
        }
        if let port = url.port, !(1...65535).contains(port) {
            reader.error(
                path,
                "\(shown): port \(port) is not a TCP port number (1-65535)",
                line: section.line(of: key)
            )
            return false
        }
        return true
    }

    /// Arvados's `API.*` keys the dispatcher does not read.
    static let unmodelledAPIKeys: Set<String> = [
        "AsyncPermissionsUpdateInterval", "DisabledAPIs", "FreezeProjectRequiresDescription",
        "FreezeProjectRequiresProperties", "KeepServiceRequestTimeout", "LockBeforeUpdate",
        "LogCreateRequestFraction", "MaxGatewayTunnels", "MaxIndexDatabaseRead", "MaxItemsPerResponse",
        "MaxKeepBlobBuffers", "MaxQueuedRequests", "MaxQueueTimeForLockRequests", "MaxRequestAmplification",
        "MaxRequestSize", "MaxTokenLifetime", "RailsSessionSecretToken", "RequestTimeout", "SendTimeout",
        "UnfreezeProjectRequiresAdmin", "VocabularyPath", "WebsocketClientEventQueue", "WebsocketServerEventQueue",
    ]

    /// Arvados's `Containers.*` keys the dispatcher does not read.
    static let unmodelledContainersKeys: Set<String> = [
        "DefaultKeepCacheDisk", "DefaultKeepCacheRAM", "JobsAPI", "LocalKeepLogsToContainerLog", "Logging", "LSF",
        "LogReuseDecisions", "MaxComputeVMs", "MaxRetryAttempts", "MinRetryPeriod", "ShellAccess", "SLURM",
        "SupportedDockerImageFormats", "UsePreemptibleInstances",
    ]

    private static func readContainers(_ section: Section, into containers: inout Containers, reader: ConfigReader) {
        if let value = section.string("CrunchRunCommand") { containers.crunchRunCommand = value }
        if let value = section.stringList("CrunchRunArgumentsList") { containers.crunchRunArgumentsList = value }
        if let value = section.string("RuntimeEngine") { containers.runtimeEngine = value }
        if let value = section.string("DispatchPrivateKey") {
            containers.dispatchPrivateKey = Self.readPrivateKey(value, section, reader: reader)
        }
        if let value = section.duration("StaleLockTimeout") { containers.staleLockTimeout = value }
        if let value = section.byteSize("ReserveExtraRAM") {
            if value < .zero {
                reader.error(
                    section.path("ReserveExtraRAM"),
                    "must not be negative",
                    line: section.line(of: "ReserveExtraRAM")
                )
            } else {
                containers.reserveExtraRAM = value
            }
        }
        if let value = section.nonNegativeDouble("MaximumPriceFactor") { containers.maximumPriceFactor = value }
        if let value = section.nonNegativeInt("LocalKeepBlobBuffersPerVCPU") {
            containers.localKeepBlobBuffersPerVCPU = value
        }
        if let value = section.nonNegativeDouble("PreemptiblePriceFactor") { containers.preemptiblePriceFactor = value }
        if let value = section.bool("AlwaysUsePreemptibleInstances") {
            containers.alwaysUsePreemptibleInstances = value
        }
        if let value = section.nonNegativeInt("MaxDispatchAttempts") { containers.maxDispatchAttempts = value }
        if let cloudVMs = reader.section(section, "CloudVMs") {
            Self.readCloudVMs(cloudVMs, into: &containers.cloudVMs, reader: reader)
        }
        section.finish(known: Self.unmodelledContainersKeys)
    }

    /// The key itself, or the contents of the file a `file:///absolute/path` value names.
    private static func readPrivateKey(_ value: String, _ section: Section, reader: ConfigReader) -> Secret {
        guard value.hasPrefix("file://") else { return Secret(value) }
        let key = "DispatchPrivateKey"
        let path = String(value.dropFirst("file://".count))
        guard path.hasPrefix("/") else {
            reader.error(
                section.path(key),
                "\(value): a file URL needs an absolute path (file:///path/to/key)",
                line: section.line(of: key)
            )
            return ""
        }
        do {
            return Secret(try readTextFile(atPath: path, limit: maxReferencedFileBytes))
        } catch {
            reader.error(section.path(key), "cannot read \(value): \(error.reason)", line: section.line(of: key))
            return ""
        }
    }

    private static func readCloudVMs(_ section: Section, into vms: inout CloudVMs, reader: ConfigReader) {
        if let value = section.bool("Enable") { vms.enable = value }
        if let value = section.string("SSHPort") {
            if let port = Int(value), (1...65535).contains(port) {
                vms.sshPort = value
            } else {
                reader.error(
                    section.path("SSHPort"),
                    "\"\(value)\" is not a TCP port number",
                    line: section.line(of: "SSHPort")
                )
            }
        }
        if let value = section.duration("PollInterval") { vms.pollInterval = value }
        if let value = section.string("BootProbeCommand") { vms.bootProbeCommand = value }
        if let value = section.duration("ProbeInterval") { vms.probeInterval = value }
        if let value = section.boundedInt("MaxProbesPerSecond") { vms.maxProbesPerSecond = value }
        if let value = section.duration("TimeoutSignal") { vms.timeoutSignal = value }
        if let value = section.duration("TimeoutStaleRunLock") { vms.timeoutStaleRunLock = value }
        if let value = section.duration("TimeoutTERM") { vms.timeoutTERM = value }
        if let value = section.nonNegativeInt("MaxCloudOpsPerSecond") { vms.maxCloudOpsPerSecond = value }
        if let value = section.nonNegativeInt("MaxConcurrentInstanceCreateOps") {
            vms.maxConcurrentInstanceCreateOps = value
        }
        if let value = section.nonNegativeInt("MaxInstances") { vms.maxInstances = value }
        if let value = section.nonNegativeInt("MaxRunningContainersPerInstance") {
            vms.maxRunningContainersPerInstance = value
        }
        if let value = section.nonNegativeInt("InitialQuotaEstimate") { vms.initialQuotaEstimate = value }
        if let value = section.nonNegativeDouble("SupervisorFraction") { vms.supervisorFraction = value }
        if let value = section.duration("SyncInterval") { vms.syncInterval = value }
        if let value = section.duration("TimeoutIdle") { vms.timeoutIdle = value }
        if let value = section.duration("TimeoutBooting") { vms.timeoutBooting = value }
        if let value = section.duration("TimeoutProbe") { vms.timeoutProbe = value }
        if let value = section.duration("TimeoutShutdown") { vms.timeoutShutdown = value }
        if let value = section.string("ImageID") { vms.imageID = ImageID(rawValue: value) }
        if let value = section.string("InstanceInitCommand") { vms.instanceInitCommand = value }
        if let value = section.string("DeployRunnerBinary") { vms.deployRunnerBinary = value }
        if let value = section.string("DeployRunnerDirectory") { vms.deployRunnerDirectory = value }
        if let value = section.bool("DeployPublicKey") { vms.deployPublicKey = value }
        if let value = section.stringMap("ResourceTags") { vms.resourceTags = value }
        if let value = section.string("TagKeyPrefix") { vms.tagKeyPrefix = value }
        if let value = section.string("Driver") { vms.driver = value }
        if let node = section.take("DriverParameters") {
            if case .mapping = node {
                vms.driverParameters = DriverParameters(raw: reader.json(node))
            } else {
                reader.error(
                    section.path("DriverParameters"),
                    "expected a mapping, got \(ConfigReader.kind(of: node, at: section.path("DriverParameters")))",
                    at: node
                )
            }
        }
        section.finish()
    }

    private static func readInstanceTypes(_ section: Section, reader: ConfigReader) -> [InstanceTypeName: InstanceType]
    {
        var types: [InstanceTypeName: InstanceType] = [:]
        for entry in section.entries {
            guard let typeSection = reader.section(section, entry.key) else { continue }
            if let type = Self.readInstanceType(named: entry.key, typeSection, reader: reader) {
                types[type.name] = type
            }
        }
        return types
    }

    private static func readInstanceType(named name: String, _ section: Section, reader: ConfigReader) -> InstanceType?
    {
        let errorsBefore = reader.errors.count
        func positive(_ key: String, _ value: Int?) {
            if let value, value > Section.maxCount {
                let message = "must be at most \(Section.maxCount) (got \(value))"
                reader.error(section.path(key), message, line: section.line(of: key))
                return
            }
            if let value, value > 0 { return }
            let got = value.map { "got \($0)" } ?? "missing"
            reader.error(section.path(key), "must be greater than zero (\(got))", line: section.line(of: key))
        }
        func nonNegative(_ key: String, _ value: ByteSize?) -> ByteSize {
            guard let value else { return .zero }
            if value < .zero {
                reader.error(section.path(key), "must not be negative", line: section.line(of: key))
                return .zero
            }
            return value
        }

        let vcpus = section.int("VCPUs")
        positive("VCPUs", vcpus)
        let ram = section.byteSize("RAM")
        if section.take("RAM") != nil && ram == nil {
            // Already reported as unparsable.
        } else if (ram ?? .zero) <= .zero {
            let got = ram.map { "got \($0)" } ?? "missing"
            reader.error(section.path("RAM"), "must be greater than zero (\(got))", line: section.line(of: "RAM"))
        }
        var includedScratch = nonNegative("IncludedScratch", section.byteSize("IncludedScratch"))
        var addedScratch = nonNegative("AddedScratch", section.byteSize("AddedScratch"))
        // Arvados's older spelling: a total `Scratch`, from which the missing part is derived.
        let scratch = nonNegative("Scratch", section.byteSize("Scratch"))
        if scratch != .zero {
            if addedScratch == .zero {
                addedScratch = scratch - includedScratch
            } else if includedScratch == .zero {
                includedScratch = scratch - addedScratch
            }
            let (sum, overflow) = includedScratch.bytes.addingReportingOverflow(addedScratch.bytes)
            if overflow || scratch.bytes != sum || addedScratch < .zero || includedScratch < .zero {
                reader.error(
                    section.path("Scratch"),
                    "must equal IncludedScratch + AddedScratch",
                    line: section.line(of: "Scratch")
                )
            }
        }
        let price = section.nonNegativeDouble("Price") ?? 0
        if scratch == .zero && includedScratch.bytes.addingReportingOverflow(addedScratch.bytes).overflow {
            reader.error(
                section.path("AddedScratch"),
                "IncludedScratch + AddedScratch overflows a 64-bit byte count",
                line: section.line(of: "AddedScratch")
            )
        }
        let preemptible = section.bool("Preemptible") ?? false
        var providerType = section.string("ProviderType") ?? ""
        if providerType.isEmpty { providerType = name }

        var gpu = GPUFeatures.none
        if let gpuSection = reader.section(section, "GPU") {
            gpu = Self.readGPU(gpuSection, reader: reader)
        }
        if let cudaSection = reader.section(section, "CUDA") {
            // Arvados's older spelling of a CUDA GPU.
            let cuda = GPUFeatures(
                stack: "cuda",
                driverVersion: cudaSection.string("DriverVersion") ?? "",
                hardwareTarget: cudaSection.string("HardwareCapability") ?? "",
                deviceCount: cudaSection.nonNegativeInt("DeviceCount") ?? 0
            )
            cudaSection.finish()
            if gpu == .none && cuda.deviceCount > 0 { gpu = cuda }
        }
        section.finish()
        guard reader.errors.count == errorsBefore, let vcpus, let ram else { return nil }
        return InstanceType(
            name: InstanceTypeName(rawValue: name),
            providerType: providerType,
            vcpus: vcpus,
            ram: ram,
            includedScratch: includedScratch,
            addedScratch: addedScratch,
            price: price,
            preemptible: preemptible,
            gpu: gpu
        )
    }

    private static func readGPU(_ section: Section, reader: ConfigReader) -> GPUFeatures {
        var gpu = GPUFeatures()
        if let stack = section.string("Stack") {
            if ["", "cuda", "rocm"].contains(stack) {
                gpu.stack = stack
            } else {
                reader.error(
                    section.path("Stack"),
                    "\"\(stack)\" is not a GPU stack (use cuda or rocm)",
                    line: section.line(of: "Stack")
                )
            }
        }
        if let value = section.string("DriverVersion") { gpu.driverVersion = value }
        if let value = section.string("HardwareTarget") { gpu.hardwareTarget = value }
        if let value = section.nonNegativeInt("DeviceCount") { gpu.deviceCount = value }
        if let value = section.byteSize("VRAM") {
            if value < .zero {
                reader.error(section.path("VRAM"), "must not be negative", line: section.line(of: "VRAM"))
            } else {
                gpu.vram = value
            }
        }
        section.finish()
        return gpu
    }

    /// Warns about a spend cap below the price of every instance type: no instance could start (unless a spot
    /// price falls below it).
    private static func checkSpendCaps(_ config: ClusterConfig, _ section: Section, reader: ConfigReader) {
        guard let cheapest = config.instanceTypes.values.map(\.price).min() else { return }
        let caps = [
            ("MaxHourlySpend", config.dispatchCloud.maxHourlySpend),
            ("MaxSpendPerDay", config.dispatchCloud.maxSpendPerDay),
        ]
        for (key, cap) in caps where cap > 0 && cap < cheapest {
            reader.warning(
                section.path(key),
                "\(cap) is below the cheapest instance type's Price (\(cheapest)): no instance can start",
                line: section.line(of: key)
            )
        }
    }

    private static func readDispatchCloud(
        _ section: Section,
        into settings: inout DispatchCloudSettings,
        reader: ConfigReader
    ) {
        if let value = section.string("DataDirectory") {
            if value.isEmpty {
                reader.error(
                    section.path("DataDirectory"),
                    "must not be empty",
                    line: section.line(of: "DataDirectory")
                )
            } else if let expanded = Self.expandStatePath(value, environment: ProcessInfo.processInfo.environment) {
                settings.dataDirectory = expanded
            } else {
                reader.error(
                    section.path("DataDirectory"),
                    "\"\(value)\" names a home directory, but HOME is not set",
                    line: section.line(of: "DataDirectory")
                )
            }
        }
        if let value = section.bool("EmbeddedContainerAPI") { settings.embeddedContainerAPI = value }
        if let value = section.bool("InsecurePlainHTTPOnPrivateNetwork") {
            settings.insecurePlainHTTPOnPrivateNetwork = value
        }
        if let value = section.nonNegativeDouble("MaxHourlySpend") { settings.maxHourlySpend = value }
        if let value = section.nonNegativeDouble("MaxSpendPerDay") { settings.maxSpendPerDay = value }
        if let value = section.duration("SpotFallbackAfter") {
            if value < .zero {
                reader.error(
                    section.path("SpotFallbackAfter"),
                    "must not be negative",
                    line: section.line(of: "SpotFallbackAfter")
                )
            } else {
                settings.spotFallbackAfter = value
            }
        }
        if let value = section.nonNegativeInt("PreemptionBudget") { settings.preemptionBudget = value }
        if let tokens = section.stringList("SubmitterTokens") {
            for (index, token) in tokens.enumerated() where token.isEmpty {
                reader.error(
                    section.path("SubmitterTokens") + "[\(index)]",
                    "must not be empty",
                    line: section.line(of: "SubmitterTokens")
                )
            }
            settings.submitterTokens = tokens.map { Secret($0) }
        }
        if let sandbox = reader.section(section, "ProcessSandbox") {
            Self.readProcessSandbox(sandbox, into: &settings.processSandbox, reader: reader)
        }
        if let value = section.duration("JournalRetention") {
            if value <= .zero {
                reader.error(
                    section.path("JournalRetention"),
                    "must be positive",
                    line: section.line(of: "JournalRetention")
                )
            } else {
                settings.journalRetention = value
            }
        }
        if let quarantine = reader.section(section, "BootQuarantine") {
            Self.readBootQuarantine(quarantine, into: &settings.bootQuarantine, reader: reader)
        }
        section.finish()
    }

    private static func readBootQuarantine(
        _ section: Section,
        into quarantine: inout BootQuarantine,
        reader: ConfigReader
    ) {
        if let value = section.nonNegativeInt("Failures") { quarantine.failures = value }
        for (key, path) in [
            ("Window", \BootQuarantine.window), ("Cooldown", \.cooldown), ("MaxCooldown", \.maxCooldown),
        ] {
            guard let value = section.duration(key) else { continue }
            if value <= .zero {
                reader.error(section.path(key), "must be positive", line: section.line(of: key))
            } else {
                quarantine[keyPath: path] = value
            }
        }
        if quarantine.maxCooldown < quarantine.cooldown {
            reader.error(
                section.path("MaxCooldown"),
                "must not be shorter than Cooldown",
                line: section.line(of: "MaxCooldown")
            )
        }
        section.finish()
    }

    private static func readProcessSandbox(
        _ section: Section,
        into sandbox: inout ProcessSandbox,
        reader: ConfigReader
    ) {
        if let value = section.string("Mode") {
            if let mode = ProcessSandbox.Mode(rawValue: value) {
                sandbox.mode = mode
            } else {
                reader.error(section.path("Mode"), "must be bwrap, auto or none", line: section.line(of: "Mode"))
            }
        }
        if let value = section.string("User") {
            let ids = value.split(separator: ":", omittingEmptySubsequences: false)
            let numeric = ids.count <= 2 && ids.allSatisfy { $0.allSatisfy(\.isASCII) && UInt32($0) != nil }
            let name =
                value.count <= 32 && value.first.map { $0.isASCII && ($0.isLetter || $0 == "_") } == true
                && value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }
            if value == "root" || (numeric && UInt32(ids[0]) == 0) {
                reader.error(section.path("User"), "must not be root", line: section.line(of: "User"))
            } else if !numeric && !name {
                reader.error(
                    section.path("User"),
                    "must be a user name, a UID or UID:GID",
                    line: section.line(of: "User")
                )
            } else {
                sandbox.user = value
            }
        }
        if let paths = section.stringList("ReadOnlyPaths") {
            for (index, path) in paths.enumerated() {
                let components = path.split(separator: "/")
                if !path.hasPrefix("/") || path == "/" || components.contains("..") || components.contains(".") {
                    reader.error(
                        section.path("ReadOnlyPaths") + "[\(index)]",
                        "must be an absolute path other than /, without . or ..",
                        line: section.line(of: "ReadOnlyPaths")
                    )
                }
            }
            sandbox.readOnlyPaths = paths
        }
        section.finish()
    }
}

extension Section {
    /// The sub-section `key`, or nil when it is absent, null or not a mapping (reported).
    fileprivate func section(_ key: String, reader: ConfigReader) -> Section? { reader.section(self, key) }
}

extension ClusterConfig {
    /// `DataDirectory` with a leading `~/` or `$XDG_STATE_HOME/` expanded for the user running the dispatcher:
    /// `~` is `$HOME`, and `$XDG_STATE_HOME` is that variable when it holds an absolute path, else
    /// `$HOME/.local/state` (the XDG base directory default). Other values are returned as written; nil when the
    /// value needs `HOME` and it is not set.
    public static func expandStatePath(_ value: String, environment: [String: String]) -> String? {
        let home = environment["HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        if value == "~" || value.hasPrefix("~/") {
            guard let home else { return nil }
            return home + value.dropFirst()
        }
        let variable = "$XDG_STATE_HOME"
        if value == variable || value.hasPrefix(variable + "/") {
            let rest = value.dropFirst(variable.count)
            if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return state + rest }
            guard let home else { return nil }
            return home + "/.local/state" + rest
        }
        return value
    }
}
