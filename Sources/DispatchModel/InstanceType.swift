/// A kind of VM the dispatcher may create, as configured under `InstanceTypes.<name>`.
///
/// JSON uses Arvados's field names (`ProviderType`, `VCPUs`, `RAM`, `IncludedScratch`, `AddedScratch`,
/// `Price`, `Preemptible`, `GPU`). As in Arvados, `Name` and `Scratch` are not part of the JSON form:
/// the name is the configuration key, and the scratch size is derived.
public struct InstanceType: Hashable, Sendable, Codable {
    /// The configuration key naming this type.
    public var name: InstanceTypeName
    /// The provider's own name for the type, such as `m5.large`. Defaults to ``name``.
    public var providerType: String
    /// Virtual CPUs.
    public var vcpus: Int
    /// Memory.
    public var ram: ByteSize
    /// Local disk that comes with the type.
    public var includedScratch: ByteSize
    /// Extra disk the driver attaches at creation (for example an EBS volume).
    public var addedScratch: ByteSize
    /// Price per hour, in the site's currency.
    public var price: Double
    /// Whether the provider may reclaim the instance at any time (spot instances).
    public var preemptible: Bool
    /// The GPUs the type carries; ``GPUFeatures/none`` for none.
    public var gpu: GPUFeatures

    public init(
        name: InstanceTypeName,
        providerType: String? = nil,
        vcpus: Int,
        ram: ByteSize,
        includedScratch: ByteSize = .zero,
        addedScratch: ByteSize = .zero,
        price: Double,
        preemptible: Bool = false,
        gpu: GPUFeatures = .none
    ) {
        self.name = name
        self.providerType = providerType ?? name.rawValue
        self.vcpus = vcpus
        self.ram = ram
        self.includedScratch = includedScratch
        self.addedScratch = addedScratch
        self.price = price
        self.preemptible = preemptible
        self.gpu = gpu
    }

    /// Total scratch space: included plus added.
    public var scratch: ByteSize { self.includedScratch + self.addedScratch }

    /// What an instance of this type offers to containers.
    public var capacity: InstanceResources {
        InstanceResources(
            vcpus: self.vcpus,
            ram: self.ram,
            scratch: self.scratch,
            gpus: self.gpu.deviceCount,
            gpuVRAM: self.gpu.vram
        )
    }

    /// The preemptible variant Arvados derives when `Containers.PreemptiblePriceFactor` is positive:
    /// named `<name>.preemptible`, marked preemptible, priced `price × factor`.
    public func preemptibleVariant(priceFactor: Double) -> InstanceType {
        var variant = self
        variant.name = InstanceTypeName(rawValue: "\(self.name.rawValue).preemptible")
        variant.preemptible = true
        variant.price = self.price * priceFactor
        return variant
    }

    enum CodingKeys: String, CodingKey {
        case providerType = "ProviderType"
        case vcpus = "VCPUs"
        case ram = "RAM"
        case includedScratch = "IncludedScratch"
        case addedScratch = "AddedScratch"
        case price = "Price"
        case preemptible = "Preemptible"
        case gpu = "GPU"
    }

    /// Decoding needs the name from outside the JSON object, as Arvados keys types by name.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let providerType = try container.decodeIfPresent(String.self, forKey: .providerType) ?? ""
        self.init(
            name: InstanceTypeName(rawValue: providerType),
            providerType: providerType,
            vcpus: try container.decodeIfPresent(Int.self, forKey: .vcpus) ?? 0,
            ram: try container.decodeIfPresent(ByteSize.self, forKey: .ram) ?? .zero,
            includedScratch: try container.decodeIfPresent(ByteSize.self, forKey: .includedScratch) ?? .zero,
            addedScratch: try container.decodeIfPresent(ByteSize.self, forKey: .addedScratch) ?? .zero,
            price: try container.decodeIfPresent(Double.self, forKey: .price) ?? 0,
            preemptible: try container.decodeIfPresent(Bool.self, forKey: .preemptible) ?? false,
            gpu: try container.decodeIfPresent(GPUFeatures.self, forKey: .gpu) ?? .none
        )
    }
}

/// The GPUs of an instance type (`InstanceTypes.<name>.GPU`).
public struct GPUFeatures: Hashable, Sendable, Codable {
    /// `cuda`, `rocm`, or empty for no GPU.
    public var stack: String
    /// The driver version installed on the image, compared numerically (`"11.0"`).
    public var driverVersion: String
    /// CUDA compute capability (`"9.0"`) or ROCm LLVM target (`"gfx1100"`).
    public var hardwareTarget: String
    /// Number of GPU devices.
    public var deviceCount: Int
    /// Memory per GPU device.
    public var vram: ByteSize

    public init(
        stack: String = "",
        driverVersion: String = "",
        hardwareTarget: String = "",
        deviceCount: Int = 0,
        vram: ByteSize = .zero
    ) {
        self.stack = stack
        self.driverVersion = driverVersion
        self.hardwareTarget = hardwareTarget
        self.deviceCount = deviceCount
        self.vram = vram
    }

    /// No GPU.
    public static let none = GPUFeatures()

    enum CodingKeys: String, CodingKey {
        case stack = "Stack"
        case driverVersion = "DriverVersion"
        case hardwareTarget = "HardwareTarget"
        case deviceCount = "DeviceCount"
        case vram = "VRAM"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            stack: try container.decodeIfPresent(String.self, forKey: .stack) ?? "",
            driverVersion: try container.decodeIfPresent(String.self, forKey: .driverVersion) ?? "",
            hardwareTarget: try container.decodeIfPresent(String.self, forKey: .hardwareTarget) ?? "",
            deviceCount: try container.decodeIfPresent(Int.self, forKey: .deviceCount) ?? 0,
            vram: try container.decodeIfPresent(ByteSize.self, forKey: .vram) ?? .zero
        )
    }
}
