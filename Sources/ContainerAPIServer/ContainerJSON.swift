import DispatchModel

/// A container's stored JSON object, written field by field: what ``JSONValueEncoder`` makes of `Container`'s
/// `Encodable` conformance, with the four timestamps in the API's microsecond form
/// (``WireJSON/normalizeTimestamps(in:fields:)``), and without the encoder's machinery.
///
/// Every stored change of a container is written this way (``ContainerRules/object(_:)``): through the generic
/// encoder, a keyed container and a boxed node per field, the object cost more than the rest of an update. The rules
/// are the encoder's: an absent optional is left out (the caller adds `null` for it), a number goes through
/// ``number(_:)``, a JSON value is rebuilt with its numbers read that way, and a number that is not finite is an
/// error. `ContainerJSONTests` checks this against the generic encoder over random containers.
enum ContainerJSON {
    /// A number that is not finite, which JSON cannot hold.
    struct NotFinite: Error, Equatable {
        var field: String
    }

    /// The object of `container`: each present field, timestamps in microseconds.
    static func object(_ container: Container) throws(NotFinite) -> [String: JSONValue] {
        var object: [String: JSONValue] = [:]
        object.reserveCapacity(ContainerRules.fields.count + 1)
        object["uuid"] = .string(container.uuid.rawValue)
        if let etag = container.etag { object["etag"] = .string(etag) }
        if let owner = container.ownerUUID { object["owner_uuid"] = .string(owner) }
        if let time = container.createdAt { object["created_at"] = Self.timestamp(time) }
        if let time = container.modifiedAt { object["modified_at"] = Self.timestamp(time) }
        if let user = container.modifiedByUserUUID { object["modified_by_user_uuid"] = .string(user) }
        object["state"] = .string(container.state.rawValue)
        if let time = container.startedAt { object["started_at"] = Self.timestamp(time) }
        if let time = container.finishedAt { object["finished_at"] = Self.timestamp(time) }
        if let log = container.log { object["log"] = .string(log) }
        object["environment"] = .object(container.environment.mapValues { .string($0) })
        object["cwd"] = .string(container.cwd)
        object["command"] = Self.strings(container.command)
        object["output_path"] = .string(container.outputPath)
        var mounts: [String: JSONValue] = [:]
        mounts.reserveCapacity(container.mounts.count)
        for (path, mount) in container.mounts { mounts[path] = try Self.mount(mount, field: "mounts") }
        object["mounts"] = .object(mounts)
        object["runtime_constraints"] = Self.runtimeConstraints(container.runtimeConstraints)
        if let output = container.output { object["output"] = .string(output) }
        object["container_image"] = .string(container.containerImage)
        if let progress = container.progress { object["progress"] = try Self.number(progress, field: "progress") }
        object["priority"] = .int(Int64(container.priority))
        if let code = container.exitCode { object["exit_code"] = .int(Int64(code)) }
        if let auth = container.authUUID { object["auth_uuid"] = .string(auth) }
        if let locker = container.lockedByUUID { object["locked_by_uuid"] = .string(locker) }
        object["scheduling_parameters"] = Self.schedulingParameters(container.schedulingParameters)
        object["runtime_status"] = try Self.members(container.runtimeStatus, field: "runtime_status")
        if let user = container.runtimeUserUUID { object["runtime_user_uuid"] = .string(user) }
        object["runtime_auth_scopes"] = Self.strings(container.runtimeAuthScopes)
        object["lock_count"] = .int(Int64(container.lockCount))
        if let address = container.gatewayAddress { object["gateway_address"] = .string(address) }
        object["interactive_session_started"] = .bool(container.interactiveSessionStarted)
        object["output_storage_classes"] = Self.strings(container.outputStorageClasses)
        object["output_properties"] = try Self.members(container.outputProperties, field: "output_properties")
        object["cost"] = try Self.number(container.cost, field: "cost")
        object["subrequests_cost"] = try Self.number(container.subrequestsCost, field: "subrequests_cost")
        object["output_glob"] = Self.strings(container.outputGlob)
        object["service"] = .bool(container.service)
        object["published_ports"] = try Self.members(container.publishedPorts, field: "published_ports")
        return object
    }

    /// A number as the encoder writes it: whole numbers in `Int64`'s range as integers.
    static func number(_ value: Double, field: String) throws(NotFinite) -> JSONValue {
        guard value.isFinite else { throw NotFinite(field: field) }
        if value.rounded() == value, value >= -0x1p63, value < 0x1p63 { return .int(Int64(value)) }
        return .double(value)
    }

    /// A timestamp in the API's microsecond form, as the stored document has it: the encoder's RFC 3339 text read
    /// back, which clamps the nanoseconds; a year that text cannot be read back from (outside 0–9999) stays as written.
    static func timestamp(_ time: Timestamp) -> JSONValue {
        let clamped = Timestamp(
            secondsSince1970: time.secondsSince1970,
            nanoseconds: min(max(time.nanoseconds, 0), 999_999_999)
        )
        guard Self.readableYears.contains(clamped.secondsSince1970) else { return .string(clamped.rfc3339) }
        return .string(WireJSON.microsecondText(clamped))
    }

    /// The seconds since 1970 of 0000-01-01T00:00:00Z through 9999-12-31T23:59:59Z: the years RFC 3339's four
    /// digits hold.
    static let readableYears: ClosedRange<Int64> = -62_167_219_200...253_402_300_799

    private static func strings(_ values: [String]) -> JSONValue {
        .array(values.map { .string($0) })
    }

    private static func members(_ members: [String: JSONValue], field: String) throws(NotFinite) -> JSONValue {
        var result: [String: JSONValue] = [:]
        result.reserveCapacity(members.count)
        for (key, value) in members { result[key] = try Self.value(value, field: field) }
        return .object(result)
    }

    /// A JSON value as the encoder rewrites it (its `Encodable` conformance writes doubles as numbers).
    private static func value(_ value: JSONValue, field: String) throws(NotFinite) -> JSONValue {
        switch value {
        case .null, .bool, .int, .string: return value
        case .double(let number): return try Self.number(number, field: field)
        case .array(let elements):
            var result: [JSONValue] = []
            result.reserveCapacity(elements.count)
            for element in elements { result.append(try Self.value(element, field: field)) }
            return .array(result)
        case .object(let members): return try Self.members(members, field: field)
        }
    }

    private static func mount(_ mount: Mount, field: String) throws(NotFinite) -> JSONValue {
        var object: [String: JSONValue] = ["kind": .string(mount.kind), "capacity": .int(mount.capacity)]
        if let path = mount.path { object["path"] = .string(path) }
        if let hash = mount.portableDataHash { object["portable_data_hash"] = .string(hash) }
        if let uuid = mount.uuid { object["uuid"] = .string(uuid) }
        if let writable = mount.writable { object["writable"] = .bool(writable) }
        if let content = mount.content { object["content"] = try Self.value(content, field: field) }
        if let exclude = mount.excludeFromOutput { object["exclude_from_output"] = .bool(exclude) }
        return .object(object)
    }

    private static func runtimeConstraints(_ constraints: RuntimeConstraints) -> JSONValue {
        let gpu = constraints.gpu
        return .object([
            "vcpus": .int(Int64(constraints.vcpus)),
            "ram": .int(constraints.ram),
            "keep_cache_ram": .int(constraints.keepCacheRAM),
            "keep_cache_disk": .int(constraints.keepCacheDisk),
            "API": .bool(constraints.api),
            "gpu": .object([
                "stack": .string(gpu.stack),
                "driver_version": .string(gpu.driverVersion),
                "hardware_target": Self.strings(gpu.hardwareTarget),
                "device_count": .int(Int64(gpu.deviceCount)),
                "vram": .int(gpu.vram),
            ]),
        ])
    }

    private static func schedulingParameters(_ parameters: SchedulingParameters) -> JSONValue {
        .object([
            "partitions": Self.strings(parameters.partitions),
            "preemptible": .bool(parameters.preemptible),
            "max_run_time": .int(Int64(parameters.maxRunTime)),
            "supervisor": .bool(parameters.supervisor),
        ])
    }
}
