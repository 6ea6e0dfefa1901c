/// An Arvados container: a command to run in an image, with resource needs and a lifecycle.
///
/// Field names in JSON are exactly Arvados's (`uuid`, `state`, `priority`, `runtime_constraints`, …),
/// per the `Container` schema of the Arvados discovery document. Every field may be absent when decoding,
/// because list calls with `select` return only some of them; absent fields take Arvados's empty values.
public struct Container: Hashable, Sendable, Codable {
    public var uuid: ContainerUUID
    public var etag: String?
    public var ownerUUID: String?
    public var createdAt: Timestamp?
    public var modifiedAt: Timestamp?
    public var modifiedByUserUUID: String?
    public var state: ContainerState
    public var startedAt: Timestamp?
    public var finishedAt: Timestamp?
    /// Portable data hash of the log collection, once there is one.
    public var log: String?
    public var environment: [String: String]
    public var cwd: String
    public var command: [String]
    public var outputPath: String
    public var mounts: [String: Mount]
    public var runtimeConstraints: RuntimeConstraints
    public var output: String?
    public var containerImage: String
    public var progress: Double?
    public var priority: Int
    /// Set only once the container is Complete.
    public var exitCode: Int?
    public var authUUID: String?
    public var lockedByUUID: String?
    public var schedulingParameters: SchedulingParameters
    public var runtimeStatus: [String: JSONValue]
    public var runtimeUserUUID: String?
    public var runtimeAuthScopes: [String]
    public var lockCount: Int
    public var gatewayAddress: String?
    public var interactiveSessionStarted: Bool
    public var outputStorageClasses: [String]
    public var outputProperties: [String: JSONValue]
    public var cost: Double
    public var subrequestsCost: Double
    public var outputGlob: [String]
    public var service: Bool
    public var publishedPorts: [String: JSONValue]

    public init(
        uuid: ContainerUUID,
        state: ContainerState = .queued,
        priority: Int = 0,
        command: [String] = [],
        containerImage: String = "",
        runtimeConstraints: RuntimeConstraints = .init(),
        schedulingParameters: SchedulingParameters = .init(),
        mounts: [String: Mount] = [:],
        environment: [String: String] = [:],
        cwd: String = "",
        outputPath: String = ""
    ) {
        self.uuid = uuid
        self.state = state
        self.priority = priority
        self.command = command
        self.containerImage = containerImage
        self.runtimeConstraints = runtimeConstraints
        self.schedulingParameters = schedulingParameters
        self.mounts = mounts
        self.environment = environment
        self.cwd = cwd
        self.outputPath = outputPath
        self.runtimeStatus = [:]
        self.runtimeAuthScopes = []
        self.lockCount = 0
        self.interactiveSessionStarted = false
        self.outputStorageClasses = []
        self.outputProperties = [:]
        self.cost = 0
        self.subrequestsCost = 0
        self.outputGlob = []
        self.service = false
        self.publishedPorts = [:]
    }

    enum CodingKeys: String, CodingKey {
        case uuid, etag, state, log, environment, cwd, command, mounts, output, progress, priority, cost, service
        case ownerUUID = "owner_uuid"
        case createdAt = "created_at"
        case modifiedAt = "modified_at"
        case modifiedByUserUUID = "modified_by_user_uuid"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case outputPath = "output_path"
        case runtimeConstraints = "runtime_constraints"
        case containerImage = "container_image"
        case exitCode = "exit_code"
        case authUUID = "auth_uuid"
        case lockedByUUID = "locked_by_uuid"
        case schedulingParameters = "scheduling_parameters"
        case runtimeStatus = "runtime_status"
        case runtimeUserUUID = "runtime_user_uuid"
        case runtimeAuthScopes = "runtime_auth_scopes"
        case lockCount = "lock_count"
        case gatewayAddress = "gateway_address"
        case interactiveSessionStarted = "interactive_session_started"
        case outputStorageClasses = "output_storage_classes"
        case outputProperties = "output_properties"
        case subrequestsCost = "subrequests_cost"
        case outputGlob = "output_glob"
        case publishedPorts = "published_ports"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(uuid: try c.decodeIfPresent(ContainerUUID.self, forKey: .uuid) ?? "")
        self.etag = try c.decodeIfPresent(String.self, forKey: .etag)
        self.ownerUUID = try c.decodeIfPresent(String.self, forKey: .ownerUUID)
        self.createdAt = try c.decodeIfPresent(Timestamp.self, forKey: .createdAt)
        self.modifiedAt = try c.decodeIfPresent(Timestamp.self, forKey: .modifiedAt)
        self.modifiedByUserUUID = try c.decodeIfPresent(String.self, forKey: .modifiedByUserUUID)
        self.state = try c.decodeIfPresent(ContainerState.self, forKey: .state) ?? .queued
        self.startedAt = try c.decodeIfPresent(Timestamp.self, forKey: .startedAt)
        self.finishedAt = try c.decodeIfPresent(Timestamp.self, forKey: .finishedAt)
        self.log = try c.decodeIfPresent(String.self, forKey: .log)
        self.environment = try c.decodeIfPresent([String: String].self, forKey: .environment) ?? [:]
        self.cwd = try c.decodeIfPresent(String.self, forKey: .cwd) ?? ""
        self.command = try c.decodeIfPresent([String].self, forKey: .command) ?? []
        self.outputPath = try c.decodeIfPresent(String.self, forKey: .outputPath) ?? ""
        self.mounts = try c.decodeIfPresent([String: Mount].self, forKey: .mounts) ?? [:]
        self.runtimeConstraints =
            try c.decodeIfPresent(RuntimeConstraints.self, forKey: .runtimeConstraints) ?? .init()
        self.output = try c.decodeIfPresent(String.self, forKey: .output)
        self.containerImage = try c.decodeIfPresent(String.self, forKey: .containerImage) ?? ""
        self.progress = try c.decodeIfPresent(Double.self, forKey: .progress)
        self.priority = try c.decodeIfPresent(Int.self, forKey: .priority) ?? 0
        self.exitCode = try c.decodeIfPresent(Int.self, forKey: .exitCode)
        self.authUUID = try c.decodeIfPresent(String.self, forKey: .authUUID)
        self.lockedByUUID = try c.decodeIfPresent(String.self, forKey: .lockedByUUID)
        self.schedulingParameters =
            try c.decodeIfPresent(SchedulingParameters.self, forKey: .schedulingParameters) ?? .init()
        self.runtimeStatus = try c.decodeIfPresent([String: JSONValue].self, forKey: .runtimeStatus) ?? [:]
        self.runtimeUserUUID = try c.decodeIfPresent(String.self, forKey: .runtimeUserUUID)
        self.runtimeAuthScopes = try c.decodeIfPresent([String].self, forKey: .runtimeAuthScopes) ?? []
        self.lockCount = try c.decodeIfPresent(Int.self, forKey: .lockCount) ?? 0
        self.gatewayAddress = try c.decodeIfPresent(String.self, forKey: .gatewayAddress)
        self.interactiveSessionStarted =
            try c.decodeIfPresent(Bool.self, forKey: .interactiveSessionStarted) ?? false
        self.outputStorageClasses = try c.decodeIfPresent([String].self, forKey: .outputStorageClasses) ?? []
        self.outputProperties = try c.decodeIfPresent([String: JSONValue].self, forKey: .outputProperties) ?? [:]
        self.cost = try c.decodeIfPresent(Double.self, forKey: .cost) ?? 0
        self.subrequestsCost = try c.decodeIfPresent(Double.self, forKey: .subrequestsCost) ?? 0
        self.outputGlob = try c.decodeIfPresent([String].self, forKey: .outputGlob) ?? []
        self.service = try c.decodeIfPresent(Bool.self, forKey: .service) ?? false
        self.publishedPorts = try c.decodeIfPresent([String: JSONValue].self, forKey: .publishedPorts) ?? [:]
    }
}

/// The resources a container asks for (`runtime_constraints`).
public struct RuntimeConstraints: Hashable, Sendable, Codable {
    public var vcpus: Int
    /// Memory for the container itself, in bytes.
    public var ram: Int64
    /// Memory for the Keep block cache.
    public var keepCacheRAM: Int64
    /// Disk for the Keep block cache.
    public var keepCacheDisk: Int64
    /// Whether the container gets an Arvados API token.
    public var api: Bool
    public var gpu: GPURuntimeConstraints

    public init(
        vcpus: Int = 0,
        ram: Int64 = 0,
        keepCacheRAM: Int64 = 0,
        keepCacheDisk: Int64 = 0,
        api: Bool = false,
        gpu: GPURuntimeConstraints = .init()
    ) {
        self.vcpus = vcpus
        self.ram = ram
        self.keepCacheRAM = keepCacheRAM
        self.keepCacheDisk = keepCacheDisk
        self.api = api
        self.gpu = gpu
    }

    enum CodingKeys: String, CodingKey {
        case vcpus, ram, gpu
        case keepCacheRAM = "keep_cache_ram"
        case keepCacheDisk = "keep_cache_disk"
        case api = "API"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            vcpus: try c.decodeIfPresent(Int.self, forKey: .vcpus) ?? 0,
            ram: try c.decodeIfPresent(Int64.self, forKey: .ram) ?? 0,
            keepCacheRAM: try c.decodeIfPresent(Int64.self, forKey: .keepCacheRAM) ?? 0,
            keepCacheDisk: try c.decodeIfPresent(Int64.self, forKey: .keepCacheDisk) ?? 0,
            api: try c.decodeIfPresent(Bool.self, forKey: .api) ?? false,
            gpu: try c.decodeIfPresent(GPURuntimeConstraints.self, forKey: .gpu) ?? .init()
        )
    }
}

/// The GPUs a container asks for (`runtime_constraints.gpu`).
public struct GPURuntimeConstraints: Hashable, Sendable, Codable {
    /// `cuda`, `rocm`, or empty for none.
    public var stack: String
    /// Minimum driver version, compared numerically.
    public var driverVersion: String
    /// CUDA: one minimum capability, or several exact ones. ROCm: acceptable LLVM targets.
    public var hardwareTarget: [String]
    public var deviceCount: Int
    /// Memory per GPU, in bytes.
    public var vram: Int64

    public init(
        stack: String = "",
        driverVersion: String = "",
        hardwareTarget: [String] = [],
        deviceCount: Int = 0,
        vram: Int64 = 0
    ) {
        self.stack = stack
        self.driverVersion = driverVersion
        self.hardwareTarget = hardwareTarget
        self.deviceCount = deviceCount
        self.vram = vram
    }

    enum CodingKeys: String, CodingKey {
        case stack, vram
        case driverVersion = "driver_version"
        case hardwareTarget = "hardware_target"
        case deviceCount = "device_count"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            stack: try c.decodeIfPresent(String.self, forKey: .stack) ?? "",
            driverVersion: try c.decodeIfPresent(String.self, forKey: .driverVersion) ?? "",
            hardwareTarget: try c.decodeIfPresent([String].self, forKey: .hardwareTarget) ?? [],
            deviceCount: try c.decodeIfPresent(Int.self, forKey: .deviceCount) ?? 0,
            vram: try c.decodeIfPresent(Int64.self, forKey: .vram) ?? 0
        )
    }
}

/// How the container wants to be scheduled (`scheduling_parameters`).
public struct SchedulingParameters: Hashable, Sendable, Codable {
    public var partitions: [String]
    /// Must run on a preemptible instance (and only then).
    public var preemptible: Bool
    /// Seconds after which the container is cancelled; 0 for no limit.
    public var maxRunTime: Int
    /// A workflow runner that launches other containers.
    public var supervisor: Bool

    public init(partitions: [String] = [], preemptible: Bool = false, maxRunTime: Int = 0, supervisor: Bool = false) {
        self.partitions = partitions
        self.preemptible = preemptible
        self.maxRunTime = maxRunTime
        self.supervisor = supervisor
    }

    enum CodingKeys: String, CodingKey {
        case partitions, preemptible, supervisor
        case maxRunTime = "max_run_time"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            partitions: try c.decodeIfPresent([String].self, forKey: .partitions) ?? [],
            preemptible: try c.decodeIfPresent(Bool.self, forKey: .preemptible) ?? false,
            maxRunTime: try c.decodeIfPresent(Int.self, forKey: .maxRunTime) ?? 0,
            supervisor: try c.decodeIfPresent(Bool.self, forKey: .supervisor) ?? false
        )
    }
}

/// One entry of a container's `mounts`.
public struct Mount: Hashable, Sendable, Codable {
    /// `tmp`, `collection`, `json`, `text`, `file`, `keep`, `tmp`, …
    public var kind: String
    /// Bytes, for `tmp` mounts.
    public var capacity: Int64
    public var path: String?
    public var portableDataHash: String?
    public var uuid: String?
    public var writable: Bool?
    public var content: JSONValue?
    public var excludeFromOutput: Bool?

    public init(kind: String, capacity: Int64 = 0) {
        self.kind = kind
        self.capacity = capacity
    }

    enum CodingKeys: String, CodingKey {
        case kind, capacity, path, uuid, writable, content
        case portableDataHash = "portable_data_hash"
        case excludeFromOutput = "exclude_from_output"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            kind: try c.decodeIfPresent(String.self, forKey: .kind) ?? "",
            capacity: try c.decodeIfPresent(Int64.self, forKey: .capacity) ?? 0
        )
        self.path = try c.decodeIfPresent(String.self, forKey: .path)
        self.portableDataHash = try c.decodeIfPresent(String.self, forKey: .portableDataHash)
        self.uuid = try c.decodeIfPresent(String.self, forKey: .uuid)
        self.writable = try c.decodeIfPresent(Bool.self, forKey: .writable)
        self.content = try c.decodeIfPresent(JSONValue.self, forKey: .content)
        self.excludeFromOutput = try c.decodeIfPresent(Bool.self, forKey: .excludeFromOutput)
    }
}
