public import DispatchModel

/// Arvados cluster sections kept as written: the ones `crunch-run` reads and this dispatcher does not model.
public struct PassthroughSections: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// Each section as written, by its key under the cluster.
    public var sections: [String: JSONValue] = [:]

    public init(sections: [String: JSONValue] = [:]) { self.sections = sections }

    public var description: String { "PassthroughSections(\(self.sections.keys.sorted().joined(separator: ", ")))" }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

extension ClusterConfig {
    /// The cluster configuration in the JSON shape of Arvados's `arvados.Cluster`, as a runner gets it in
    /// `ConfigData.Cluster` (reference §7.3) when `Containers.LocalKeepBlobBuffersPerVCPU` is above 0, so
    /// `crunch-run` can start its local keepstore.
    ///
    /// Holds `ClusterID`, `SystemRootToken`, `ManagementToken`, `Services`, `TLS`, `API`, `Containers`,
    /// `InstanceTypes` (the effective values: defaults filled in, durations as Go durations, sizes in bytes)
    /// and Arvados's sections this dispatcher does not model (`Collections`, `Volumes`, …) as written. Two
    /// things Arvados sends are left out on purpose, because no runner reads them and every worker would
    /// hold them: `Containers.DispatchPrivateKey` and `Containers.CloudVMs.DriverParameters`.
    public func arvadosJSON() -> JSONValue {
        var cluster = self.passthroughSections.sections
        cluster["ClusterID"] = .string(self.clusterID.rawValue)
        cluster["SystemRootToken"] = .string(self.systemRootToken.value)
        cluster["ManagementToken"] = .string(self.managementToken.value)
        cluster["Services"] = .object([
            "Controller": Self.serviceJSON(self.services.controller),
            "DispatchCloud": Self.serviceJSON(self.services.dispatchCloud),
        ])
        cluster["TLS"] = .object([
            "Insecure": .bool(self.tls.insecure),
            "Certificate": .string(self.tls.certificate),
        ])
        cluster["API"] = .object(["MaxConcurrentRequests": .int(Int64(self.api.maxConcurrentRequests))])
        cluster["Containers"] = self.containersJSON()
        var types: [String: JSONValue] = [:]
        for type in self.instanceTypes.values { types[type.name.rawValue] = Self.instanceTypeJSON(type) }
        cluster["InstanceTypes"] = .object(types)
        return .object(cluster)
    }

    private func containersJSON() -> JSONValue {
        let containers = self.containers
        let vms = containers.cloudVMs
        let cloudVMs: [String: JSONValue] = [
            "Enable": .bool(vms.enable),
            "SSHPort": .string(vms.sshPort),
            "PollInterval": Self.durationJSON(vms.pollInterval),
            "BootProbeCommand": .string(vms.bootProbeCommand),
            "ProbeInterval": Self.durationJSON(vms.probeInterval),
            "MaxProbesPerSecond": .int(Int64(vms.maxProbesPerSecond)),
            "TimeoutSignal": Self.durationJSON(vms.timeoutSignal),
            "TimeoutStaleRunLock": Self.durationJSON(vms.timeoutStaleRunLock),
            "TimeoutTERM": Self.durationJSON(vms.timeoutTERM),
            "MaxCloudOpsPerSecond": .int(Int64(vms.maxCloudOpsPerSecond)),
            "MaxConcurrentInstanceCreateOps": .int(Int64(vms.maxConcurrentInstanceCreateOps)),
            "MaxInstances": .int(Int64(vms.maxInstances)),
            "MaxRunningContainersPerInstance": .int(Int64(vms.maxRunningContainersPerInstance)),
            "InitialQuotaEstimate": .int(Int64(vms.initialQuotaEstimate)),
            "SupervisorFraction": .double(vms.supervisorFraction),
            "SyncInterval": Self.durationJSON(vms.syncInterval),
            "TimeoutIdle": Self.durationJSON(vms.timeoutIdle),
            "TimeoutBooting": Self.durationJSON(vms.timeoutBooting),
            "TimeoutProbe": Self.durationJSON(vms.timeoutProbe),
            "TimeoutShutdown": Self.durationJSON(vms.timeoutShutdown),
            "ImageID": .string(vms.imageID.rawValue),
            "InstanceInitCommand": .string(vms.instanceInitCommand),
            "DeployRunnerBinary": .string(vms.deployRunnerBinary),
            "DeployRunnerDirectory": .string(vms.deployRunnerDirectory),
            "DeployPublicKey": .bool(vms.deployPublicKey),
            "ResourceTags": .object(vms.resourceTags.mapValues { .string($0) }),
            "TagKeyPrefix": .string(vms.tagKeyPrefix),
            "Driver": .string(vms.driver),
        ]
        return .object([
            "CrunchRunCommand": .string(containers.crunchRunCommand),
            "CrunchRunArgumentsList": .array(containers.crunchRunArgumentsList.map { .string($0) }),
            "RuntimeEngine": .string(containers.runtimeEngine),
            "StaleLockTimeout": Self.durationJSON(containers.staleLockTimeout),
            "ReserveExtraRAM": .int(containers.reserveExtraRAM.bytes),
            "MaximumPriceFactor": .double(containers.maximumPriceFactor),
            "LocalKeepBlobBuffersPerVCPU": .int(Int64(containers.localKeepBlobBuffersPerVCPU)),
            "PreemptiblePriceFactor": .double(containers.preemptiblePriceFactor),
            "AlwaysUsePreemptibleInstances": .bool(containers.alwaysUsePreemptibleInstances),
            "MaxDispatchAttempts": .int(Int64(containers.maxDispatchAttempts)),
            "CloudVMs": .object(cloudVMs),
        ])
    }

    private static func serviceJSON(_ service: Service) -> JSONValue {
        var urls: [String: JSONValue] = [:]
        for internalURL in service.internalURLs {
            urls[internalURL.url] = .object(["ListenURL": .string(internalURL.listenURL)])
        }
        return .object(["ExternalURL": .string(service.externalURL), "InternalURLs": .object(urls)])
    }

    /// An instance type as Arvados marshals `arvados.InstanceType` (no `Name`, no `Scratch`).
    static func instanceTypeJSON(_ type: InstanceType) -> JSONValue {
        var fields: [String: JSONValue] = [
            "ProviderType": .string(type.providerType),
            "VCPUs": .int(Int64(type.vcpus)),
            "RAM": .int(type.ram.bytes),
            "IncludedScratch": .int(type.includedScratch.bytes),
            "AddedScratch": .int(type.addedScratch.bytes),
            "Price": .double(type.price),
            "Preemptible": .bool(type.preemptible),
        ]
        fields["GPU"] = .object([
            "Stack": .string(type.gpu.stack),
            "DriverVersion": .string(type.gpu.driverVersion),
            "HardwareTarget": .string(type.gpu.hardwareTarget),
            "DeviceCount": .int(Int64(type.gpu.deviceCount)),
            "VRAM": .int(type.gpu.vram.bytes),
        ])
        return .object(fields)
    }

    /// A duration as `arvados.Duration` marshals it: Go's `time.Duration.String()`.
    private static func durationJSON(_ value: Duration) -> JSONValue { .string(GoDuration.format(value)) }
}
