import DispatchModel
import Foundation
import Testing

@Suite("Wire formats")
struct ModelWireFormatTests {
    @Test(
        "Byte sizes parse the way Arvados configuration writes them",
        arguments: [
            ("1000000000", Int64(1_000_000_000)),
            ("550MiB", 550 << 20),
            ("4GiB", 4 << 30),
            ("4Gi", 4 << 30),
            ("2 GB", 2_000_000_000),
            ("3K", 3000),
            ("1KiB", 1024),
            ("7B", 7),
            ("0", 0),
            ("1TiB", 1 << 40),
        ]
    )
    func byteSizeParsing(text: String, bytes: Int64) throws {
        #expect(try ByteSize(parsing: text).bytes == bytes)
    }

    @Test("Malformed byte sizes are rejected with the reason", arguments: ["", "GiB", "1.5GiB", "4 parsecs", "9EiB"])
    func byteSizeErrors(text: String) {
        #expect(throws: ByteSizeParseError.self) { try ByteSize(parsing: text) }
    }

    @Test("Byte sizes print in the largest exact binary unit")
    func byteSizeDescription() {
        #expect(ByteSize.miB(550).description == "550MiB")
        #expect(ByteSize.giB(4).description == "4GiB")
        #expect(ByteSize(1_000_000_000).description == "1000000000")
        #expect(ByteSize.zero.description == "0")
    }

    @Test("Byte sizes decode from JSON numbers or strings and encode as numbers")
    func byteSizeJSON() throws {
        let decoded = try JSONDecoder().decode([ByteSize].self, from: Data(#"[1024, "2KiB"]"#.utf8))
        #expect(decoded == [.kiB(1), .kiB(2)])
        #expect(String(decoding: try JSONEncoder().encode(decoded), as: UTF8.self) == "[1024,2048]")
    }

    @Test("Instance types encode with Arvados's field names and without Name or Scratch")
    func instanceTypeJSON() throws {
        let type = InstanceType(
            name: "m5.large",
            vcpus: 2,
            ram: .giB(8),
            includedScratch: .giB(10),
            addedScratch: .giB(20),
            price: 0.096,
            gpu: GPUFeatures(
                stack: "cuda",
                driverVersion: "11.0",
                hardwareTarget: "9.0",
                deviceCount: 1,
                vram: .giB(16)
            )
        )
        let object = try #require(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(type)) as? [String: Any]
        )
        #expect(
            Set(object.keys)
                == ["ProviderType", "VCPUs", "RAM", "IncludedScratch", "AddedScratch", "Price", "Preemptible", "GPU"]
        )
        let gpu = try #require(object["GPU"] as? [String: Any])
        #expect(Set(gpu.keys) == ["Stack", "DriverVersion", "HardwareTarget", "DeviceCount", "VRAM"])
        #expect(object["RAM"] as? Int == 8 << 30)
        #expect(type.scratch == .giB(30))
        #expect(type.capacity.gpuVRAM == .giB(16))
    }

    @Test("A container decodes from Arvados JSON and keeps every field on the way back")
    func containerJSON() throws {
        let json = """
            {"uuid":"zzzzz-dz642-abcdefghijklmno","state":"Locked","priority":500,"lock_count":2,
             "locked_by_uuid":"zzzzz-gj3su-000000000000000","created_at":"2026-11-29T09:39:42.123456789Z",
             "modified_at":"2026-11-29T09:40:00Z","command":["echo","hi"],"cwd":"/tmp","output_path":"/out",
             "container_image":"d5025c0f29f6eef304a7358afa82a822+342","environment":{"A":"b"},
             "mounts":{"/tmp":{"kind":"tmp","capacity":1073741824},"/in":{"kind":"json","content":{"x":[1,2.5,null]}}},
             "runtime_constraints":{"vcpus":2,"ram":1000,"keep_cache_ram":10,"keep_cache_disk":20,"API":true,
               "gpu":{"stack":"cuda","driver_version":"11.0","hardware_target":["9.0"],"device_count":1,"vram":5}},
             "scheduling_parameters":{"preemptible":true,"supervisor":true,"max_run_time":60,"partitions":["a"]},
             "runtime_status":{"error":"boom"},"exit_code":null,"log":null,"output_properties":{},"cost":0.5}
            """
        let container = try JSONDecoder().decode(Container.self, from: Data(json.utf8))
        #expect(container.uuid == "zzzzz-dz642-abcdefghijklmno")
        #expect(container.state == .locked)
        #expect(container.priority == 500)
        #expect(container.lockCount == 2)
        #expect(container.runtimeConstraints.gpu.hardwareTarget == ["9.0"])
        #expect(container.runtimeConstraints.api)
        #expect(container.schedulingParameters.preemptible && container.schedulingParameters.supervisor)
        #expect(container.mounts["/tmp"]?.capacity == 1 << 30)
        #expect(container.mounts["/in"]?.content == .object(["x": .array([.int(1), .double(2.5), .null])]))
        #expect(container.runtimeStatus["error"]?.stringValue == "boom")
        #expect(container.exitCode == nil)
        #expect(container.createdAt?.rfc3339 == "2026-11-29T09:39:42.123456789Z")

        let reencoded = try JSONDecoder().decode(Container.self, from: JSONEncoder().encode(container))
        #expect(reencoded == container)
        let keys = try #require(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(container)) as? [String: Any]
        ).keys
        #expect(
            Set(keys).isSuperset(of: [
                "uuid", "state", "priority", "runtime_constraints", "scheduling_parameters",
                "mounts", "command", "environment", "cwd", "container_image", "output_path", "locked_by_uuid",
                "lock_count", "created_at", "modified_at", "runtime_status",
            ])
        )
    }

    @Test("A container from a list call with `select` decodes with Arvados's empty values")
    func partialContainer() throws {
        let container = try JSONDecoder().decode(
            Container.self,
            from: Data(#"{"uuid":"zzzzz-dz642-abcdefghijklmno","priority":1}"#.utf8)
        )
        #expect(container.state == .queued)
        #expect(container.command.isEmpty && container.mounts.isEmpty && container.lockCount == 0)
    }

    @Test("Unknown container states are an error, not a silent default")
    func unknownState() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Container.self, from: Data(#"{"uuid":"x","state":"Paused"}"#.utf8))
        }
    }

    @Test(
        "Container state transitions follow Arvados",
        arguments: [
            (ContainerState.queued, ContainerState.locked, true),
            (.queued, .cancelled, true),
            (.queued, .running, false),
            (.queued, .complete, false),
            (.locked, .queued, true),
            (.locked, .running, true),
            (.locked, .cancelled, true),
            (.locked, .complete, false),
            (.running, .complete, true),
            (.running, .cancelled, true),
            (.running, .queued, false),
            (.running, .locked, false),
            (.complete, .cancelled, false),
            (.cancelled, .queued, false),
        ]
    )
    func stateTransitions(from: ContainerState, to: ContainerState, allowed: Bool) {
        #expect(from.canTransition(to: to) == allowed)
    }

    @Test(
        "Container UUIDs are checked for the Arvados shape",
        arguments: [
            ("zzzzz-dz642-abcdefghijklmno", true),
            ("zzzzz-dz642-abcdefghijklmn", false),
            ("zzzzz-8i9sb-abcdefghijklmno", false),
            ("ZZZZZ-dz642-abcdefghijklmno", false),
            ("zzzz-dz642-abcdefghijklmnop", false),
            ("zzzzz-dz642-abcdefghijklmnO", false),
        ]
    )
    func containerUUIDShape(uuid: String, valid: Bool) {
        #expect(ContainerUUID(rawValue: uuid).isWellFormed == valid)
        #expect((ContainerUUID(rawValue: uuid).clusterID != nil) == valid)
    }

    @Test("Timestamps parse RFC 3339 with or without fractions and offsets")
    func timestamps() throws {
        let plain = try #require(Timestamp(rfc3339: "2026-11-29T09:39:42Z"))
        let nanos = try #require(Timestamp(rfc3339: "2026-11-29T09:39:42.5Z"))
        let offset = try #require(Timestamp(rfc3339: "2026-11-29T10:39:42+01:00"))
        #expect(nanos.date.timeIntervalSince(plain.date) == 0.5)
        #expect(offset == plain)
        #expect(plain.rfc3339 == "2026-11-29T09:39:42Z")
        #expect(nanos.rfc3339 == "2026-11-29T09:39:42.500000000Z")
        #expect(Timestamp(rfc3339: "yesterday") == nil)
    }
}

/// What the scheduler reads of every queue entry without reading its record.
@Suite("Queue entry summary")
struct QueueEntrySummaryTests {
    @Test("The summary and record identity follow every change of the container")
    func summaryFollowsContainer() {
        var container = Container(uuid: "zzzzz-dz642-000000000000001", state: .queued, priority: 3)
        container.createdAt = Timestamp(secondsSince1970: 1_800_000_000)
        var entry = QueueEntry(
            container: container,
            instanceTypes: [],
            resources: InstanceResources(vcpus: 1),
            firstSeenAt: Timestamp(secondsSince1970: 1_800_000_001)
        )
        #expect(entry.summary.state == .queued)
        #expect(entry.summary.priority == 3)
        #expect(entry.summary.createdAt == container.createdAt)
        #expect(entry.summary.uuidDigest == container.uuid.digest)
        let copy = entry
        #expect(copy.recordID == entry.recordID, "a copy shares the record")
        entry.container.state = .locked
        entry.container.priority = 9
        entry.container.schedulingParameters.supervisor = true
        #expect(entry.summary.state == .locked)
        #expect(entry.summary.priority == 9)
        #expect(entry.summary.isSupervisor)
        #expect(entry.recordID != copy.recordID, "a change makes a new record")
        #expect(copy.summary.state == .queued, "the copy keeps its own")
    }

    @Test("UUID digests: equal for equal UUIDs, apart for the UUIDs of a queue, defined for short and odd ones")
    func digests() {
        var seen = Set<UInt64>()
        for i in 0..<100_000 {
            let digits = String(i)
            let uuid = ContainerUUID(
                rawValue: "zzzzz-dz642-" + String(repeating: "0", count: 15 - digits.count) + digits
            )
            seen.insert(uuid.digest)
            #expect(ContainerUUID(rawValue: String(uuid.rawValue)).digest == uuid.digest)
        }
        #expect(seen.count == 100_000)
        let odd: [ContainerUUID] = [
            "", "a", "short-uuid", "zzzzz-dz642-ünïcödé-tail-0001", "zzzzz-dz642-ünïcödé-tail-0002",
        ]
        #expect(Set(odd.map(\.digest)).count == odd.count)
    }
}
