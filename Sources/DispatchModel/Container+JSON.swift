/// Writing a container's JSON object directly, without an `Encoder`.
extension Container {
    /// The JSON object of the container as its `Encodable` conformance writes it through a JSON encoder, field by
    /// field: an absent optional is left out, a number as the API's parser reads a JSON encoder's text for it (whole
    /// numbers in `Int64`'s range as integers), a JSON value is rebuilt with its numbers read that way, a timestamp is
    /// `timestamp`'s; a number that is not finite is an error naming its attribute.
    ///
    /// The stored container document (the API's, timestamps in microseconds) and the runner's `--stdin-config`
    /// record (timestamps as ``Timestamp/rfc3339``) are written this way: through an `Encoder`, a keyed container
    /// and a dynamic dispatch per field cost more than the rest of a container update.
    public func jsonObject(
        timestamp: (Timestamp) -> JSONValue = { .string($0.rfc3339) }
    ) throws(JSONValue.NotFinite) -> [String: JSONValue] {
        let container = self
        var object: [String: JSONValue] = [:]
        object.reserveCapacity(40)
        object["uuid"] = .string(container.uuid.rawValue)
        if let etag = container.etag { object["etag"] = .string(etag) }
        if let owner = container.ownerUUID { object["owner_uuid"] = .string(owner) }
        if let time = container.createdAt { object["created_at"] = timestamp(time) }
        if let time = container.modifiedAt { object["modified_at"] = timestamp(time) }
        if let user = container.modifiedByUserUUID { object["modified_by_user_uuid"] = .string(user) }
        object["state"] = .string(container.state.rawValue)
        if let time = container.startedAt { object["started_at"] = timestamp(time) }
        if let time = container.finishedAt { object["finished_at"] = timestamp(time) }
        if let log = container.log { object["log"] = .string(log) }
        object["environment"] = .object(container.environment.mapValues { .string($0) })
        object["cwd"] = .string(container.cwd)
        object["command"] = Self.jsonStrings(container.command)
        object["output_path"] = .string(container.outputPath)
        var mounts: [String: JSONValue] = [:]
        mounts.reserveCapacity(container.mounts.count)
        for (path, mount) in container.mounts { mounts[path] = try Self.jsonMount(mount, field: "mounts") }
        object["mounts"] = .object(mounts)
        object["runtime_constraints"] = Self.jsonRuntimeConstraints(container.runtimeConstraints)
        if let output = container.output { object["output"] = .string(output) }
        object["container_image"] = .string(container.containerImage)
        if let progress = container.progress { object["progress"] = try Self.jsonNumber(progress, field: "progress") }
        object["priority"] = .int(Int64(container.priority))
        if let code = container.exitCode { object["exit_code"] = .int(Int64(code)) }
        if let auth = container.authUUID { object["auth_uuid"] = .string(auth) }
        if let locker = container.lockedByUUID { object["locked_by_uuid"] = .string(locker) }
        object["scheduling_parameters"] = Self.jsonSchedulingParameters(container.schedulingParameters)
        object["runtime_status"] = try Self.jsonMembers(container.runtimeStatus, field: "runtime_status")
        if let user = container.runtimeUserUUID { object["runtime_user_uuid"] = .string(user) }
        object["runtime_auth_scopes"] = Self.jsonStrings(container.runtimeAuthScopes)
        object["lock_count"] = .int(Int64(container.lockCount))
        if let address = container.gatewayAddress { object["gateway_address"] = .string(address) }
        object["interactive_session_started"] = .bool(container.interactiveSessionStarted)
        object["output_storage_classes"] = Self.jsonStrings(container.outputStorageClasses)
        object["output_properties"] = try Self.jsonMembers(container.outputProperties, field: "output_properties")
        object["cost"] = try Self.jsonNumber(container.cost, field: "cost")
        object["subrequests_cost"] = try Self.jsonNumber(container.subrequestsCost, field: "subrequests_cost")
        object["output_glob"] = Self.jsonStrings(container.outputGlob)
        object["service"] = .bool(container.service)
        object["published_ports"] = try Self.jsonMembers(container.publishedPorts, field: "published_ports")
        return object
    }

    /// ``JSONValue/number(_:)``, or an error naming `field` for a number that is not finite.
    private static func jsonNumber(_ value: Double, field: String) throws(JSONValue.NotFinite) -> JSONValue {
        guard let number = JSONValue.number(value) else { throw JSONValue.NotFinite(field: field) }
        return number
    }

    private static func jsonStrings(_ values: [String]) -> JSONValue {
        .array(values.map { .string($0) })
    }

    private static func jsonMembers(
        _ members: [String: JSONValue],
        field: String
    ) throws(JSONValue.NotFinite) -> JSONValue {
        var result: [String: JSONValue] = [:]
        result.reserveCapacity(members.count)
        for (key, value) in members { result[key] = try Self.jsonValue(value, field: field) }
        return .object(result)
    }

    /// A JSON value as the encoder rewrites it (its `Encodable` conformance writes doubles as numbers).
    private static func jsonValue(_ value: JSONValue, field: String) throws(JSONValue.NotFinite) -> JSONValue {
        switch value {
        case .null, .bool, .int, .string: return value
        case .double(let number): return try Self.jsonNumber(number, field: field)
        case .array(let elements):
            var result: [JSONValue] = []
            result.reserveCapacity(elements.count)
            for element in elements { result.append(try Self.jsonValue(element, field: field)) }
            return .array(result)
        case .object(let members): return try Self.jsonMembers(members, field: field)
        }
    }

    private static func jsonMount(_ mount: Mount, field: String) throws(JSONValue.NotFinite) -> JSONValue {
        var object: [String: JSONValue] = ["kind": .string(mount.kind), "capacity": .int(mount.capacity)]
        if let path = mount.path { object["path"] = .string(path) }
        if let hash = mount.portableDataHash { object["portable_data_hash"] = .string(hash) }
        if let uuid = mount.uuid { object["uuid"] = .string(uuid) }
        if let writable = mount.writable { object["writable"] = .bool(writable) }
        if let content = mount.content { object["content"] = try Self.jsonValue(content, field: field) }
        if let exclude = mount.excludeFromOutput { object["exclude_from_output"] = .bool(exclude) }
        return .object(object)
    }

    private static func jsonRuntimeConstraints(_ constraints: RuntimeConstraints) -> JSONValue {
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
                "hardware_target": Self.jsonStrings(gpu.hardwareTarget),
                "device_count": .int(Int64(gpu.deviceCount)),
                "vram": .int(gpu.vram),
            ]),
        ])
    }

    private static func jsonSchedulingParameters(_ parameters: SchedulingParameters) -> JSONValue {
        .object([
            "partitions": Self.jsonStrings(parameters.partitions),
            "preemptible": .bool(parameters.preemptible),
            "max_run_time": .int(Int64(parameters.maxRunTime)),
            "supervisor": .bool(parameters.supervisor),
        ])
    }

}

extension JSONValue {
    /// A double as the API's parser reads a JSON encoder's text for it: a whole number in `Int64`'s range as
    /// ``int(_:)``, any other as ``double(_:)``; `nil` for one that is not finite, which JSON cannot hold.
    public static func number(_ value: Double) -> JSONValue? {
        guard value.isFinite else { return nil }
        if value.rounded() == value, value >= -0x1p63, value < 0x1p63 { return .int(Int64(value)) }
        return .double(value)
    }

    /// A number that is not finite, which JSON cannot hold, in the attribute `field`.
    public struct NotFinite: Error, Equatable, Sendable {
        public var field: String

        public init(field: String) { self.field = field }
    }
}
