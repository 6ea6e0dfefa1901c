import DispatchModel

/// A container's stored JSON object, written field by field (``DispatchModel/Container/jsonObject(timestamp:)``): what
/// ``JSONValueEncoder`` makes of `Container`'s `Encodable` conformance, with the four timestamps in the API's
/// microsecond form (``WireJSON/normalizeTimestamps(in:fields:)``), and without the encoder's machinery; and read back
/// the same way where the strict decoder would take it.
///
/// Every stored change of a container is written this way (``ContainerRules/object(_:)``): through the generic
/// encoder, a keyed container and a boxed node per field, the object cost more than the rest of an update.
/// `ContainerJSONTests` checks both directions against the generic encoder and decoder over random containers.
enum ContainerJSON {
    /// A number that is not finite, which JSON cannot hold.
    typealias NotFinite = JSONValue.NotFinite

    /// The object of `container`: each present field, timestamps in microseconds.
    static func object(_ container: Container) throws(NotFinite) -> [String: JSONValue] {
        try container.jsonObject(timestamp: Self.timestamp)
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

    // MARK: - Reading

    /// The container `object` holds, as ``JSONValueDecoder`` takes it through `Container`'s `Decodable` conformance,
    /// or `nil` where that decoder would not take it or would fail: the caller then decodes through it after all, and
    /// its result or error stands. The rules are that decoder's: an absent or `null` attribute takes its default, an
    /// integer only ``DispatchModel/JSONValue/int(_:)`` in range, a double either kind of number, a string or a bool
    /// only its own kind, a JSON value as it is unless it holds a whole double; unknown attributes are ignored.
    static func container(_ object: [String: JSONValue]) -> Container? {
        var reader = Reader(members: object)
        return reader.container()
    }

    /// Reads typed attributes from an object, recording the first that does not fit.
    private struct Reader {
        var members: [String: JSONValue]
        var failed = false

        /// The attribute, or `nil` when absent or `null`.
        func present(_ key: String) -> JSONValue? {
            guard let value = self.members[key], value != .null else { return nil }
            return value
        }

        mutating func fail<T>() -> T? {
            self.failed = true
            return nil
        }

        /// What `read` makes of the attribute (one of ``JSONValueDecoder``'s readers), or `nil`: absent or `null`,
        /// or (a failure) not taken.
        mutating func take<T>(_ key: String, _ read: (JSONValue) throws -> T) -> T? {
            guard let value = self.present(key) else { return nil }
            guard let taken = try? read(value) else { return self.fail() }
            return taken
        }

        mutating func string(_ key: String) -> String? { self.take(key, JSONValueDecoder.string) }
        mutating func bool(_ key: String) -> Bool? { self.take(key, JSONValueDecoder.bool) }
        mutating func int(_ key: String) -> Int? { self.take(key) { try JSONValueDecoder.integer($0) } }
        mutating func int64(_ key: String) -> Int64? { self.take(key) { try JSONValueDecoder.integer($0) } }
        mutating func double(_ key: String) -> Double? { self.take(key, JSONValueDecoder.double) }

        mutating func timestamp(_ key: String) -> Timestamp? {
            guard let text = self.string(key) else { return nil }
            guard let time = Timestamp(rfc3339: text) else { return self.fail() }
            return time
        }

        mutating func strings(_ key: String) -> [String]? {
            self.take(key) { value in
                guard case .array(let elements) = value else { throw JSONValueDecoder.Unsupported() }
                return try elements.map(JSONValueDecoder.string)
            }
        }

        mutating func stringMap(_ key: String) -> [String: String]? {
            self.take(key) { value in
                guard case .object(let members) = value else { throw JSONValueDecoder.Unsupported() }
                return try members.mapValues(JSONValueDecoder.string)
            }
        }

        /// A JSON value as the decoder takes one: as it is, unless it holds a whole double.
        mutating func json(_ key: String) -> JSONValue? {
            self.take(key) { value in
                guard !JSONValueDecoder.holdsWholeDouble(value) else { throw JSONValueDecoder.Unsupported() }
                return value
            }
        }

        mutating func jsonMap(_ key: String) -> [String: JSONValue]? {
            self.take(key) { value in
                guard case .object(let members) = value, !JSONValueDecoder.holdsWholeDouble(value) else {
                    throw JSONValueDecoder.Unsupported()
                }
                return members
            }
        }

        /// A nested object's reader, or `nil` (and a failure) if the attribute is not an object.
        mutating func nested(_ key: String) -> Reader? {
            guard let value = self.present(key) else { return nil }
            guard case .object(let members) = value else { return self.fail() }
            return Reader(members: members)
        }

        mutating func container() -> Container? {
            var c = Container(uuid: ContainerUUID(rawValue: self.string("uuid") ?? ""))
            c.etag = self.string("etag")
            c.ownerUUID = self.string("owner_uuid")
            c.createdAt = self.timestamp("created_at")
            c.modifiedAt = self.timestamp("modified_at")
            c.modifiedByUserUUID = self.string("modified_by_user_uuid")
            if let state = self.string("state") {
                guard let parsed = ContainerState(rawValue: state) else { return nil }
                c.state = parsed
            }
            c.startedAt = self.timestamp("started_at")
            c.finishedAt = self.timestamp("finished_at")
            c.log = self.string("log")
            c.environment = self.stringMap("environment") ?? [:]
            c.cwd = self.string("cwd") ?? ""
            c.command = self.strings("command") ?? []
            c.outputPath = self.string("output_path") ?? ""
            if let mounts = self.nested("mounts") {
                for (path, value) in mounts.members {
                    guard case .object(let members) = value, let mount = Self.mount(members) else { return nil }
                    c.mounts[path] = mount
                }
            }
            if var constraints = self.nested("runtime_constraints") {
                guard let decoded = constraints.runtimeConstraints() else { return nil }
                c.runtimeConstraints = decoded
            }
            c.output = self.string("output")
            c.containerImage = self.string("container_image") ?? ""
            c.progress = self.double("progress")
            c.priority = self.int("priority") ?? 0
            c.exitCode = self.int("exit_code")
            c.authUUID = self.string("auth_uuid")
            c.lockedByUUID = self.string("locked_by_uuid")
            if var parameters = self.nested("scheduling_parameters") {
                c.schedulingParameters = SchedulingParameters(
                    partitions: parameters.strings("partitions") ?? [],
                    preemptible: parameters.bool("preemptible") ?? false,
                    maxRunTime: parameters.int("max_run_time") ?? 0,
                    supervisor: parameters.bool("supervisor") ?? false
                )
                guard !parameters.failed else { return nil }
            }
            c.runtimeStatus = self.jsonMap("runtime_status") ?? [:]
            c.runtimeUserUUID = self.string("runtime_user_uuid")
            c.runtimeAuthScopes = self.strings("runtime_auth_scopes") ?? []
            c.lockCount = self.int("lock_count") ?? 0
            c.gatewayAddress = self.string("gateway_address")
            c.interactiveSessionStarted = self.bool("interactive_session_started") ?? false
            c.outputStorageClasses = self.strings("output_storage_classes") ?? []
            c.outputProperties = self.jsonMap("output_properties") ?? [:]
            c.cost = self.double("cost") ?? 0
            c.subrequestsCost = self.double("subrequests_cost") ?? 0
            c.outputGlob = self.strings("output_glob") ?? []
            c.service = self.bool("service") ?? false
            c.publishedPorts = self.jsonMap("published_ports") ?? [:]
            return self.failed ? nil : c
        }

        mutating func runtimeConstraints() -> RuntimeConstraints? {
            var gpu = GPURuntimeConstraints()
            if var nested = self.nested("gpu") {
                gpu = GPURuntimeConstraints(
                    stack: nested.string("stack") ?? "",
                    driverVersion: nested.string("driver_version") ?? "",
                    hardwareTarget: nested.strings("hardware_target") ?? [],
                    deviceCount: nested.int("device_count") ?? 0,
                    vram: nested.int64("vram") ?? 0
                )
                guard !nested.failed else { return nil }
            }
            let constraints = RuntimeConstraints(
                vcpus: self.int("vcpus") ?? 0,
                ram: self.int64("ram") ?? 0,
                keepCacheRAM: self.int64("keep_cache_ram") ?? 0,
                keepCacheDisk: self.int64("keep_cache_disk") ?? 0,
                api: self.bool("API") ?? false,
                gpu: gpu
            )
            return self.failed ? nil : constraints
        }

        static func mount(_ members: [String: JSONValue]) -> Mount? {
            var reader = Reader(members: members)
            var mount = Mount(kind: reader.string("kind") ?? "", capacity: reader.int64("capacity") ?? 0)
            mount.path = reader.string("path")
            mount.portableDataHash = reader.string("portable_data_hash")
            mount.uuid = reader.string("uuid")
            mount.writable = reader.bool("writable")
            mount.content = reader.json("content")
            mount.excludeFromOutput = reader.bool("exclude_from_output")
            return reader.failed ? nil : mount
        }
    }
}
