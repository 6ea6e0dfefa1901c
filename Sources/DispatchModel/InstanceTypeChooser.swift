/// Picks the instance types that can run a container, cheapest first, exactly as Arvados's dispatcher does
/// (`node_size.go`).
///
/// The chooser is a value built once from the configuration: the menu of instance types and the settings
/// that add overhead to a container's needs.
public struct InstanceTypeChooser: Sendable {
    /// The configured instance types (preemptible variants included).
    public var types: [InstanceType]
    /// `Containers.MaximumPriceFactor`: eligible types may cost up to this multiple of the cheapest.
    public var maximumPriceFactor: Double
    /// `Containers.ReserveExtraRAM`: memory added to every container's need.
    public var reserveExtraRAM: ByteSize
    /// `Containers.LocalKeepBlobBuffersPerVCPU`: when positive, memory for a local keepstore is added.
    public var localKeepBlobBuffersPerVCPU: Int

    /// The share of configured RAM assumed unavailable to containers (kernel, daemons): 5 %.
    public static let discountConfiguredRAMPercent: Int64 = 5

    public init(
        types: [InstanceType],
        maximumPriceFactor: Double = 1.5,
        reserveExtraRAM: ByteSize = .miB(550),
        localKeepBlobBuffersPerVCPU: Int = 1
    ) {
        self.types = types
        self.maximumPriceFactor = maximumPriceFactor
        self.reserveExtraRAM = reserveExtraRAM
        self.localKeepBlobBuffersPerVCPU = localKeepBlobBuffersPerVCPU
    }

    /// What an instance must offer to run `container`, system overhead included.
    ///
    /// RAM is `ram + keep_cache_ram + ReserveExtraRAM`, plus 220 MiB and 64 MiB × 1.1 per blob buffer per
    /// VCPU when local keep buffers are configured, all divided by 0.95. Scratch comes from
    /// ``estimatedScratch(for:)``. Every sum and product saturates at `Int64.max`, so a container asking for
    /// more than any machine could hold needs `Int64.max` bytes (which no type offers) instead of trapping;
    /// ``eligibleTypes(for:)`` refuses such containers, and negative sizes, with a message naming the field.
    public func resourcesNeeded(for container: Container) -> InstanceResources {
        let constraints = container.runtimeConstraints
        var ram = Saturating.sum(constraints.ram, constraints.keepCacheRAM, self.reserveExtraRAM.bytes)
        if self.localKeepBlobBuffersPerVCPU > 0 {
            // 200 MiB for the keepstore process, plus 10 % for its garbage collector.
            ram = Saturating.sum(ram, 220 << 20)
            // 64 MiB per blob buffer, plus 10 %: 64 MiB × 1.1 = 70.4 MiB, computed as 704 × 64 MiB / 10.
            let buffers = Saturating.product(Int64(self.localKeepBlobBuffersPerVCPU), Int64(constraints.vcpus))
            let buffersRAM = Saturating.product(buffers, 11 << 26)
            ram = Saturating.sum(ram, buffersRAM == Int64.max ? Int64.max : buffersRAM / 10)
        }
        // ram × 100 / 95, without overflowing the intermediate product.
        ram = Saturating.scaled(ram, by: 100, dividedBy: 100 - Self.discountConfiguredRAMPercent)
        return InstanceResources(
            vcpus: constraints.vcpus,
            ram: ByteSize(ram),
            scratch: ByteSize(Self.estimatedScratch(for: container)),
            gpus: constraints.gpu.deviceCount,
            gpuVRAM: ByteSize(constraints.gpu.vram)
        )
    }

    /// Disk a container needs: its `tmp` mounts, room to load and extract its image, and its Keep disk cache.
    ///
    /// The image load buffer is released to the container afterwards, so the tmp mounts and the buffer
    /// share space: `max(Σ tmp capacity, image) + image + keep_cache_disk`, saturating at `Int64.max`.
    public static func estimatedScratch(for container: Container) -> Int64 {
        var need: Int64 = 0
        for mount in container.mounts.values where mount.kind == "tmp" {
            need = Saturating.sum(need, mount.capacity)
        }
        let image = self.estimatedImageSize(portableDataHash: container.containerImage)
        need = Saturating.sum(max(need, image), image)
        return Saturating.sum(need, container.runtimeConstraints.keepCacheDisk)
    }

    /// Estimates the disk used by a Docker image from the portable data hash of the collection that
    /// `arv-keepdocker` stored it in, without fetching the collection.
    ///
    /// Such a manifest has a predictable shape: about 80 characters of file name and segment, then one
    /// 42-character block locator per full 64 MiB block. So the estimate is
    /// `(manifest length − 80) / 42 × 64 MiB` (saturating at `Int64.max`), or 0 when the hash is not
    /// `<32 hex>+<length>` or the manifest is shorter than 122 characters. A length hint too long for
    /// `Int64` estimates `Int64.max`, which no instance type offers.
    public static func estimatedImageSize(portableDataHash: String) -> Int64 {
        let parts = portableDataHash.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2,
            parts[0].utf8.count == 32,
            parts[0].utf8.allSatisfy({ $0.isLowercaseHexDigit }),
            !parts[1].isEmpty,
            parts[1].utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return 0 }
        guard let length = Int64(parts[1]) else { return Int64.max }
        guard length >= 122 else { return 0 }
        return Saturating.product((length - 80) / 42, 64 << 20)
    }

    /// Why `container` can never run, whatever the menu: a negative size, or one so large that adding the
    /// dispatcher's overhead overflows a 64-bit byte count. `nil` when its sizes are sane.
    public func impossibleRequest(_ container: Container) -> String? {
        let constraints = container.runtimeConstraints
        let negatives: [(String, Int64)] = [
            ("runtime_constraints.vcpus", Int64(constraints.vcpus)),
            ("runtime_constraints.ram", constraints.ram),
            ("runtime_constraints.keep_cache_ram", constraints.keepCacheRAM),
            ("runtime_constraints.keep_cache_disk", constraints.keepCacheDisk),
            ("runtime_constraints.gpu.device_count", Int64(constraints.gpu.deviceCount)),
            ("runtime_constraints.gpu.vram", constraints.gpu.vram),
        ]
        for (field, value) in negatives where value < 0 {
            return "\(field) is negative (\(value))"
        }
        for (path, mount) in container.mounts.sorted(by: { $0.key < $1.key }) where mount.kind == "tmp" {
            if mount.capacity < 0 { return "mounts[\"\(path)\"].capacity is negative (\(mount.capacity))" }
        }
        let need = self.resourcesNeeded(for: container)
        if need.ram.bytes == Int64.max {
            return "runtime_constraints: the RAM needed (ram + keep_cache_ram + overhead) overflows a 64-bit byte count"
        }
        if need.scratch.bytes == Int64.max {
            return "mounts, container_image and keep_cache_disk: the scratch space needed overflows a 64-bit byte count"
        }
        return nil
    }

    /// The instance types eligible to run `container`, cheapest first.
    ///
    /// A type is eligible when it has enough VCPUs, RAM (after overhead), scratch, GPUs and VRAM; when its
    /// preemptibility matches `scheduling_parameters.preemptible` exactly; when its GPU stack matches the
    /// requested one (no GPU requested means no GPU wanted); and, when GPUs are requested, its driver version
    /// is at least the requested one and its hardware target fits (CUDA: one requested capability is a
    /// minimum, several are an exact list; ROCm: the target must be listed). Versions compare as decimal
    /// numbers. Types costing more than `MaximumPriceFactor` (at least 1) times the cheapest eligible type
    /// are dropped. Ties in price prefer more RAM, then more VCPUs, then more scratch, then the name.
    ///
    /// - Throws: ``InstanceTypeChoiceError`` with code `notConfigured` when the menu is empty, or
    ///   `constraintsNotSatisfiable` (with the available types by price) when nothing fits or the GPU
    ///   stack is invalid. The result is never empty.
    public func eligibleTypes(for container: Container) throws(InstanceTypeChoiceError) -> [InstanceType] {
        guard !self.types.isEmpty else { throw .notConfigured }
        let gpu = container.runtimeConstraints.gpu
        guard ["", "cuda", "rocm"].contains(gpu.stack) else {
            throw InstanceTypeChoiceError(
                code: .constraintsNotSatisfiable,
                message: "Invalid GPU stack \"\(gpu.stack)\", expected to be blank or one of 'cuda' or 'rocm'",
                availableTypes: []
            )
        }
        if let impossible = self.impossibleRequest(container) {
            throw InstanceTypeChoiceError(
                code: .constraintsNotSatisfiable,
                message: "constraints not satisfiable by any configured instance type: \(impossible)",
                availableTypes: []
            )
        }
        let need = self.resourcesNeeded(for: container)
        let priceFactor = max(self.maximumPriceFactor, 1)
        var maxPrice = 0.0
        var eligible: [InstanceType] = []
        for type in self.types where Self.isEligible(type, need: need, container: container) {
            if maxPrice > 0 && type.price > maxPrice { continue }
            eligible.append(type)
            let bound = type.price * priceFactor
            if maxPrice == 0 || bound < maxPrice { maxPrice = bound }
        }
        guard !eligible.isEmpty else {
            throw InstanceTypeChoiceError(
                code: .constraintsNotSatisfiable,
                message: "constraints not satisfiable by any configured instance type",
                availableTypes: self.types.sorted { $0.price < $1.price }
            )
        }
        eligible.sort(by: Self.preferred)
        // The bound only shrinks while scanning, so a type accepted early may exceed the final one.
        if let cut = eligible.indices.dropFirst().first(where: { eligible[$0].price > maxPrice }) {
            eligible.removeSubrange(cut...)
        }
        return eligible
    }

    /// The cheapest eligible type, for callers that need exactly one.
    public func cheapestType(for container: Container) throws(InstanceTypeChoiceError) -> InstanceType {
        // `eligibleTypes` never returns an empty list without throwing.
        try self.eligibleTypes(for: container)[0]
    }

    /// The sort order of eligible types: price ascending, then RAM, VCPUs and scratch descending, then name.
    static func preferred(_ a: InstanceType, _ b: InstanceType) -> Bool {
        if a.price != b.price { return a.price < b.price }
        if a.ram != b.ram { return a.ram > b.ram }
        if a.vcpus != b.vcpus { return a.vcpus > b.vcpus }
        if a.scratch != b.scratch { return a.scratch > b.scratch }
        return a.name < b.name
    }

    static func isEligible(_ type: InstanceType, need: InstanceResources, container: Container) -> Bool {
        let gpu = container.runtimeConstraints.gpu
        guard type.scratch >= need.scratch,
            type.ram >= need.ram,
            type.vcpus >= need.vcpus,
            type.preemptible == container.schedulingParameters.preemptible,
            type.gpu.stack == gpu.stack,
            type.gpu.deviceCount >= gpu.deviceCount,
            type.gpu.vram.bytes >= gpu.vram
        else { return false }
        guard gpu.deviceCount > 0 else { return true }
        guard let driverOK = Self.version(type.gpu.driverVersion, isAtLeast: gpu.driverVersion), driverOK else {
            return false
        }
        return Self.hardwareTargetFits(offered: type.gpu.hardwareTarget, requested: gpu)
    }

    static func hardwareTargetFits(offered: String, requested gpu: GPURuntimeConstraints) -> Bool {
        switch gpu.stack {
        case "cuda":
            switch gpu.hardwareTarget.count {
            case 0: return false
            case 1: return Self.version(offered, isAtLeast: gpu.hardwareTarget[0]) ?? false
            default: return gpu.hardwareTarget.contains(offered)
            }
        case "rocm":
            return gpu.hardwareTarget.contains(offered)
        default:
            return true
        }
    }

    /// Compares two versions as decimal numbers (`"12.10" < "12.9"`, as Arvados does); `nil` if either
    /// is not a number.
    static func version(_ offered: String, isAtLeast wanted: String) -> Bool? {
        guard let offered = Double(offered), let wanted = Double(wanted) else { return nil }
        return !(offered < wanted)
    }
}

/// Why no instance type can run a container.
public struct InstanceTypeChoiceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case notConfigured
            case constraintsNotSatisfiable
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The site configuration lists no instance types at all.
        public static let notConfigured = Code(.notConfigured)
        /// No configured type satisfies the container's constraints.
        public static let constraintsNotSatisfiable = Code(.constraintsNotSatisfiable)

        public var description: String { "\(self.wrapped)" }
    }

    public var code: Code
    /// The message Arvados uses, suitable for `runtime_status.error`.
    public var message: String
    /// For `constraintsNotSatisfiable`: the configured types, cheapest first, to show the user.
    public var availableTypes: [InstanceType]

    public init(code: Code, message: String, availableTypes: [InstanceType]) {
        self.code = code
        self.message = message
        self.availableTypes = availableTypes
    }

    public static let notConfigured = InstanceTypeChoiceError(
        code: .notConfigured,
        message: "site configuration does not list any instance types",
        availableTypes: []
    )

    public var description: String { self.message }
}

extension UInt8 {
    var isLowercaseHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
    }
}

/// Int64 arithmetic that stops at the type's bounds instead of trapping, for sizes that come from outside.
enum Saturating {
    static func sum(_ values: Int64...) -> Int64 {
        var total: Int64 = 0
        for value in values {
            let (result, overflow) = total.addingReportingOverflow(value)
            if overflow { return value > 0 ? Int64.max : Int64.min }
            total = result
        }
        return total
    }

    static func product(_ a: Int64, _ b: Int64) -> Int64 {
        let (result, overflow) = a.multipliedReportingOverflow(by: b)
        guard overflow else { return result }
        return (a < 0) == (b < 0) ? Int64.max : Int64.min
    }

    /// `value × numerator / denominator` (truncated, as Int64 division), saturating instead of overflowing in
    /// the intermediate product. `denominator` must be positive.
    static func scaled(_ value: Int64, by numerator: Int64, dividedBy denominator: Int64) -> Int64 {
        // value = q·d + r with |r| < d, so value·n/d = q·n + r·n/d exactly (q and r share a sign).
        let quotient = value / denominator
        let remainder = value % denominator
        return self.sum(self.product(quotient, numerator), self.product(remainder, numerator) / denominator)
    }
}
