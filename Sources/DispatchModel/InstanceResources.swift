/// Allocatable resources: what a container needs (overhead included) or what an instance has left.
///
/// JSON matches Arvados's `instance_resources` object (`VCPUs`, `RAM`, `Scratch`, `GPUs`, `GPUVRAM`).
public struct InstanceResources: Hashable, Sendable, Codable {
    public var vcpus: Int
    public var ram: ByteSize
    public var scratch: ByteSize
    public var gpus: Int
    /// VRAM per GPU device.
    public var gpuVRAM: ByteSize
    /// Whether one of the remaining VCPUs is already shared by one or more 0-VCPU containers.
    public private(set) var sharedVCPUUsed: Bool

    public init(
        vcpus: Int = 0,
        ram: ByteSize = .zero,
        scratch: ByteSize = .zero,
        gpus: Int = 0,
        gpuVRAM: ByteSize = .zero,
        sharedVCPUUsed: Bool = false
    ) {
        self.vcpus = vcpus
        self.ram = ram
        self.scratch = scratch
        self.gpus = gpus
        self.gpuVRAM = gpuVRAM
        self.sharedVCPUUsed = sharedVCPUUsed
    }

    /// Whether an instance with these remaining resources can take a container that needs `need`.
    ///
    /// Every dimension must suffice and at least one VCPU must remain. 0-VCPU containers jointly use one
    /// VCPU: once one is placed, a container asking for N VCPUs needs strictly more than N remaining.
    public func accommodates(_ need: InstanceResources) -> Bool {
        self.vcpus >= need.vcpus
            && self.ram >= need.ram
            && self.scratch >= need.scratch
            && self.gpus >= need.gpus
            && self.gpuVRAM >= need.gpuVRAM
            && self.vcpus > 0
            && (!self.sharedVCPUUsed || self.vcpus > need.vcpus)
    }

    /// The resources left after placing a container that needs `need`.
    public func subtracting(_ need: InstanceResources) -> InstanceResources {
        var remaining = self
        remaining.vcpus -= need.vcpus
        remaining.ram = remaining.ram - need.ram
        remaining.scratch = remaining.scratch - need.scratch
        remaining.gpus -= need.gpus
        remaining.gpuVRAM = remaining.gpuVRAM - need.gpuVRAM
        if need.vcpus == 0 { remaining.sharedVCPUUsed = true }
        return remaining
    }

    enum CodingKeys: String, CodingKey {
        case vcpus = "VCPUs"
        case ram = "RAM"
        case scratch = "Scratch"
        case gpus = "GPUs"
        case gpuVRAM = "GPUVRAM"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            vcpus: try container.decodeIfPresent(Int.self, forKey: .vcpus) ?? 0,
            ram: try container.decodeIfPresent(ByteSize.self, forKey: .ram) ?? .zero,
            scratch: try container.decodeIfPresent(ByteSize.self, forKey: .scratch) ?? .zero,
            gpus: try container.decodeIfPresent(Int.self, forKey: .gpus) ?? 0,
            gpuVRAM: try container.decodeIfPresent(ByteSize.self, forKey: .gpuVRAM) ?? .zero
        )
    }
}
