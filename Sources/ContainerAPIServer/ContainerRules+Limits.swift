import DispatchModel

extension ContainerRules {
    /// The largest byte size the API stores for any one size or sum of sizes: 1 EiB (2⁶⁰ bytes).
    ///
    /// No instance type holds an exbibyte, and the cap leaves the dispatcher's overhead arithmetic (reserved RAM,
    /// keepstore buffers, the 5 % RAM discount) room to work in `Int64`.
    static let maxBytes: Int64 = 1 << 60

    /// The largest count of VCPUs or GPUs the API stores: 2²⁰.
    static let maxDeviceCount: Int64 = 1 << 20

    /// The largest `scheduling_parameters.max_run_time`, in seconds: the longest time whose nanoseconds fit in
    /// `Int64` (about 292 years), so a runner can always turn it into a duration.
    static let maxRunTimeSeconds: Int64 = Int64.max / 1_000_000_000

    /// The smallest and largest `exit_code`, a process's 32-bit status.
    static let exitCodeRange: ClosedRange<Int64> = Int64(Int32.min)...Int64(Int32.max)

    /// The attributes whose values ``checkAdmissible(_:)`` checks.
    static let admissionFields: Set<String> = [
        "runtime_constraints", "mounts", "container_image", "scheduling_parameters",
    ]

    /// Refuses a container whose sizes the dispatcher could not work with: negative sizes, counts or sizes
    /// beyond ``maxBytes`` or ``maxDeviceCount``, sums of sizes (RAM with the Keep cache, scratch with the
    /// image) that pass ``maxBytes``, a malformed size hint in a portable-data-hash `container_image`, and a
    /// `max_run_time` outside zero to ``maxRunTimeSeconds``.
    ///
    /// Every sum is computed with overflow checks; the error names the attribute.
    static func checkAdmissible(_ container: Container) throws(ContainerAPIError) {
        let constraints = container.runtimeConstraints
        try Self.check(Int64(constraints.vcpus), in: 1...Self.maxDeviceCount, field: "runtime_constraints.vcpus")
        try Self.check(constraints.ram, in: 1...Self.maxBytes, field: "runtime_constraints.ram", unit: " bytes")
        try Self.check(
            constraints.keepCacheRAM,
            in: 0...Self.maxBytes,
            field: "runtime_constraints.keep_cache_ram",
            unit: " bytes"
        )
        try Self.check(
            constraints.keepCacheDisk,
            in: 0...Self.maxBytes,
            field: "runtime_constraints.keep_cache_disk",
            unit: " bytes"
        )
        try Self.check(
            Int64(constraints.gpu.deviceCount),
            in: 0...Self.maxDeviceCount,
            field: "runtime_constraints.gpu.device_count"
        )
        try Self.check(
            constraints.gpu.vram,
            in: 0...Self.maxBytes,
            field: "runtime_constraints.gpu.vram",
            unit: " bytes"
        )
        try Self.checkSum(
            [constraints.ram, constraints.keepCacheRAM],
            field: "runtime_constraints.ram",
            what: "ram plus keep_cache_ram"
        )

        var tmpTotal: Int64 = 0
        for (path, mount) in container.mounts.sorted(by: { $0.key < $1.key }) {
            let field = "mounts[\(WireJSON.string(.string(path)))].capacity"
            try Self.check(mount.capacity, in: 0...Self.maxBytes, field: field, unit: " bytes")
            if mount.kind == "tmp" {
                tmpTotal = try Self.checkSum(
                    [tmpTotal, mount.capacity],
                    field: field,
                    what: "the tmp mounts' capacities"
                )
            }
        }
        try Self.checkImageSizeHint(container.containerImage)
        // The dispatcher's own scratch estimate (tmp mounts, the image and keep_cache_disk), saturating.
        let scratch = InstanceTypeChooser.estimatedScratch(for: container)
        guard scratch <= Self.maxBytes else {
            throw ContainerAPIError(
                .unprocessable,
                "runtime_constraints.keep_cache_disk: the scratch space needed (tmp mounts, the image and "
                    + "keep_cache_disk) must not exceed \(Self.maxBytes) bytes"
            )
        }
        try Self.check(
            Int64(container.schedulingParameters.maxRunTime),
            in: 0...Self.maxRunTimeSeconds,
            field: "scheduling_parameters.max_run_time",
            unit: " seconds"
        )
    }

    /// Checks the size hint of a portable-data-hash `container_image` (`<32 hex>+<size>…`): a decimal number of
    /// bytes that fits `Int64`, standing for an image (as `InstanceTypeChooser.estimatedImageSize` estimates it)
    /// no larger than ``maxBytes``. Any other image name passes.
    ///
    /// - Throws: 422 naming `container_image`.
    static func checkImageSizeHint(_ image: String) throws(ContainerAPIError) {
        let parts = image.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].utf8.count == 32, parts[0].utf8.allSatisfy(Self.isLowercaseHex) else {
            return
        }
        let hint = parts[1]
        guard !hint.isEmpty, hint.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let length = Int64(hint)
        else {
            throw ContainerAPIError(
                .unprocessable,
                "container_image: the size hint of a portable data hash must be a decimal number of bytes "
                    + "that fits in a 64-bit integer"
            )
        }
        let size = InstanceTypeChooser.estimatedImageSize(portableDataHash: "\(parts[0])+\(hint)")
        guard size <= Self.maxBytes else {
            throw ContainerAPIError(
                .unprocessable,
                "container_image: the size hint \(length) of the portable data hash stands for an image larger "
                    + "than \(Self.maxBytes) bytes"
            )
        }
    }

    private static func isLowercaseHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    private static func check(
        _ value: Int64,
        in range: ClosedRange<Int64>,
        field: String,
        unit: String = ""
    ) throws(ContainerAPIError) {
        guard range.contains(value) else {
            throw ContainerAPIError(
                .unprocessable,
                "\(field) must be an integer from \(range.lowerBound) to \(range.upperBound)\(unit), not \(value)"
            )
        }
    }

    /// The sum of `values`, which must not pass ``maxBytes``.
    @discardableResult
    private static func checkSum(_ values: [Int64], field: String, what: String) throws(ContainerAPIError) -> Int64 {
        var total: Int64 = 0
        for value in values {
            let (next, overflow) = total.addingReportingOverflow(value)
            guard !overflow, next <= Self.maxBytes else {
                throw ContainerAPIError(
                    .unprocessable,
                    "\(field): \(what) must not add up to more than \(Self.maxBytes) bytes"
                )
            }
            total = next
        }
        return total
    }

    /// Why no instance type of `chooser` can run `container`, for a 422 at create: what it needs and what the
    /// menu offers.
    static func unsatisfiable(
        _ container: Container,
        _ error: InstanceTypeChoiceError,
        by chooser: InstanceTypeChooser
    ) -> String {
        guard error.code == .constraintsNotSatisfiable, chooser.impossibleRequest(container) == nil,
            !error.availableTypes.isEmpty
        else { return "runtime_constraints: \(error.message)" }
        let need = chooser.resourcesNeeded(for: container)
        var wanted = "\(need.vcpus) VCPUs, \(need.ram) RAM"
        if need.scratch.bytes > 0 { wanted += ", \(need.scratch) scratch" }
        if need.gpus > 0 { wanted += ", \(need.gpus) GPUs" }
        if container.schedulingParameters.preemptible { wanted += ", preemptible" }
        let offered = error.availableTypes.prefix(8).map { type in
            "\(type.name) (\(type.vcpus) VCPUs, \(type.ram) RAM\(type.preemptible ? ", preemptible" : ""))"
        }
        let more = error.availableTypes.count > 8 ? ", …" : ""
        return "runtime_constraints: no configured instance type can run this container: it needs \(wanted) "
            + "(overhead included); InstanceTypes has \(offered.joined(separator: ", "))\(more)"
    }
}
