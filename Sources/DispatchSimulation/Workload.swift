import DispatchModel
public import Foundation

/// The containers a simulation submits: when, how big, how long they run and how they end.
///
/// Two formats are read (``Workload/parse(_:name:)`` tells them apart by the first character):
///
/// - **JSON lines** (`.jsonl`): one object per line, blank lines and lines starting with `#` ignored:
///
///   ```json
///   {"submit": "90s", "vcpus": 4, "ram": "8GiB", "scratch": "20GiB", "gpus": 0, "preemptible": false,
///    "priority": 500, "runtime": "25m", "exit_code": 0, "name": "align-17", "user": "alice"}
///   ```
///
///   `submit` (offset from the start; a duration string or seconds), `vcpus`, `ram` and `runtime` are
///   required; the rest default to 0 / false / 500 / none. Sizes are bytes or strings such as `8GiB`.
/// - **Arvados container records** (`.json`): the output of `arv container list` or of the containers API
///   (`{"items": [...]}`, or a bare array). Each record that has `started_at` and `finished_at` becomes one
///   container: submitted at `created_at` (offset from the earliest), sized by `runtime_constraints`
///   (`vcpus`, `ram`, `gpu.device_count`) and the capacity of its `tmp` mounts, `scheduling_parameters`
///   (`preemptible`), its `priority`, its run time `finished_at − started_at` and its `exit_code`. Records that
///   never ran are counted in ``skipped``.
public struct Workload: Sendable {
    public struct Entry: Sendable, Hashable {
        public var submit: Duration
        public var vcpus: Int
        public var ram: Int64
        public var scratch: Int64
        public var gpus: Int
        public var preemptible: Bool
        public var priority: Int
        public var runTime: Duration
        public var exitCode: Int32
        public var name: String?
        public var user: String?

        public init(
            submit: Duration,
            vcpus: Int,
            ram: Int64,
            scratch: Int64 = 0,
            gpus: Int = 0,
            preemptible: Bool = false,
            priority: Int = 500,
            runTime: Duration,
            exitCode: Int32 = 0,
            name: String? = nil,
            user: String? = nil
        ) {
            self.submit = submit
            self.vcpus = vcpus
            self.ram = ram
            self.scratch = scratch
            self.gpus = gpus
            self.preemptible = preemptible
            self.priority = priority
            self.runTime = runTime
            self.exitCode = exitCode
            self.name = name
            self.user = user
        }
    }

    /// The containers, in submission order (ties keep the file's order).
    public var entries: [Entry]
    /// Records of an Arvados import that never ran, left out.
    public var skipped = 0

    public init(entries: [Entry], skipped: Int = 0) {
        self.entries = entries.enumerated().sorted { ($0.element.submit, $0.offset) < ($1.element.submit, $1.offset) }
            .map(\.element)
        self.skipped = skipped
    }

    /// The largest workload read: beyond this, a file is refused rather than exhausting memory.
    public static let maxEntries = 5_000_000

    /// Reads a workload file.
    public static func load(contentsOfFile path: String) throws(WorkloadError) -> Workload {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw WorkloadError("\(path): cannot read: \(error.localizedDescription)")
        }
        return try Self.parse(data, name: path)
    }

    /// Reads a workload: JSON lines, or Arvados container records when the text starts with `{"items"` or `[`.
    public static func parse(_ data: Data, name: String) throws(WorkloadError) -> Workload {
        let firstByte = data.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        if firstByte == UInt8(ascii: "[") { return try Self.importArvados(data, name: name) }
        if firstByte == UInt8(ascii: "{") {
            // One record per line, or one document holding `items`.
            let firstLine = data.prefix { $0 != 0x0A }
            if let object = (try? JSONDecoder().decode(JSONValue.self, from: Data(firstLine)))?.objectMembers,
                object["items"] == nil
            {
                return try Self.parseLines(data, name: name)
            }
            return try Self.importArvados(data, name: name)
        }
        return try Self.parseLines(data, name: name)
    }

    // MARK: JSON lines

    static func parseLines(_ data: Data, name: String) throws(WorkloadError) -> Workload {
        var entries: [Entry] = []
        var lineNumber = 0
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            let text = line.drop { $0 == 0x20 || $0 == 0x09 }
            if text.isEmpty || text.first == UInt8(ascii: "#") || text.allSatisfy({ $0 == 0x0D || $0 == 0x20 }) {
                continue
            }
            guard entries.count < Self.maxEntries else {
                throw WorkloadError("\(name): more than \(Self.maxEntries) containers")
            }
            guard let parsed = try? JSONDecoder().decode(JSONValue.self, from: Data(text)) else {
                throw WorkloadError("\(name):\(lineNumber): not JSON")
            }
            guard let object = parsed.objectMembers else {
                throw WorkloadError("\(name):\(lineNumber): expected a JSON object")
            }
            do throws(WorkloadError) {
                entries.append(try Self.entry(object))
            } catch {
                throw WorkloadError("\(name):\(lineNumber): \(error.message)")
            }
        }
        return Workload(entries: entries)
    }

    static let knownKeys: Set<String> = [
        "submit", "vcpus", "ram", "scratch", "gpus", "preemptible", "priority", "runtime", "exit_code", "name", "user",
    ]

    static func entry(_ object: [String: JSONValue]) throws(WorkloadError) -> Entry {
        if let unknown = object.keys.sorted().first(where: { !Self.knownKeys.contains($0) }) {
            throw WorkloadError("unknown key \"\(unknown.prefix(40))\"")
        }
        let submit = try Self.duration(object["submit"], key: "submit", required: true) ?? .zero
        let runTime = try Self.duration(object["runtime"], key: "runtime", required: true) ?? .zero
        guard let vcpus = try Self.integer(object["vcpus"], key: "vcpus"), vcpus >= 1, vcpus <= 1 << 20 else {
            throw WorkloadError("vcpus: required, an integer from 1 to \(1 << 20)")
        }
        guard let ram = try Self.size(object["ram"], key: "ram"), ram >= 1 else {
            throw WorkloadError("ram: required, a positive size")
        }
        let scratch = try Self.size(object["scratch"], key: "scratch") ?? 0
        let gpus = try Self.integer(object["gpus"], key: "gpus") ?? 0
        guard gpus >= 0, gpus <= 1024 else { throw WorkloadError("gpus: from 0 to 1024") }
        let priority = try Self.integer(object["priority"], key: "priority") ?? 500
        guard priority >= 1, priority <= 1000 else { throw WorkloadError("priority: from 1 to 1000") }
        let exitCode = try Self.integer(object["exit_code"], key: "exit_code") ?? 0
        guard let code = Int32(exactly: exitCode), code >= 0, code <= 255 else {
            throw WorkloadError("exit_code: from 0 to 255")
        }
        var preemptible = false
        if let value = object["preemptible"], value != .null {
            guard case .bool(let flag) = value else { throw WorkloadError("preemptible: expected true or false") }
            preemptible = flag
        }
        return Entry(
            submit: submit,
            vcpus: Int(vcpus),
            ram: ram,
            scratch: scratch,
            gpus: Int(gpus),
            preemptible: preemptible,
            priority: Int(priority),
            runTime: runTime,
            exitCode: code,
            name: object["name"]?.stringValue.map { String($0.prefix(200)) },
            user: object["user"]?.stringValue.map { String($0.prefix(200)) }
        )
    }

    /// The longest duration read: a year; longer ones are refused.
    static let maxDuration = Duration.seconds(366 * 86400)

    static func duration(_ value: JSONValue?, key: String, required: Bool) throws(WorkloadError) -> Duration? {
        guard let value, value != .null else {
            if required { throw WorkloadError("\(key): required") }
            return nil
        }
        let duration: Duration
        switch value {
        case .string(let text):
            do throws(DurationParseError) {
                duration = try GoDuration.parse(text)
            } catch {
                throw WorkloadError("\(key): \"\(text.prefix(40))\" is not a duration such as 90s or 1h30m")
            }
        case .int(let seconds):
            guard seconds >= 0, seconds <= 366 * 86400 else {
                throw WorkloadError("\(key): from 0 to a year of seconds")
            }
            duration = .seconds(seconds)
        case .double(let seconds):
            guard seconds.isFinite, seconds >= 0, seconds <= 366 * 86400 else {
                throw WorkloadError("\(key): from 0 to a year of seconds")
            }
            duration = .milliseconds(Int64((seconds * 1000).rounded()))
        default:
            throw WorkloadError("\(key): expected a duration (\"90s\") or a number of seconds")
        }
        guard duration >= .zero, duration <= Self.maxDuration else {
            throw WorkloadError("\(key): from 0 to a year")
        }
        return duration
    }

    static func integer(_ value: JSONValue?, key: String) throws(WorkloadError) -> Int64? {
        switch value {
        case nil, .null?: return nil
        case .int(let integer)?: return integer
        case .double(let number)?:
            guard let integer = Int64(exactly: number) else { throw WorkloadError("\(key): expected an integer") }
            return integer
        default: throw WorkloadError("\(key): expected an integer")
        }
    }

    static func size(_ value: JSONValue?, key: String) throws(WorkloadError) -> Int64? {
        if case .string(let text)? = value {
            guard let size = try? ByteSize(parsing: text), size.bytes >= 0 else {
                throw WorkloadError("\(key): \"\(text.prefix(40))\" is not a size such as 8GiB")
            }
            return size.bytes
        }
        guard let bytes = try Self.integer(value, key: key) else { return nil }
        guard bytes >= 0 else { throw WorkloadError("\(key): expected a size in bytes or a string such as 8GiB") }
        return bytes
    }

    // MARK: Arvados import

    static func importArvados(_ data: Data, name: String) throws(WorkloadError) -> Workload {
        guard let document = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw WorkloadError("\(name): not JSON")
        }
        let items: [JSONValue]
        if let array = document.arrayElements {
            items = array
        } else if let array = document.objectMembers?["items"]?.arrayElements {
            items = array
        } else {
            throw WorkloadError("\(name): expected {\"items\": [...]} or an array of container records")
        }
        guard items.count <= Self.maxEntries else {
            throw WorkloadError("\(name): more than \(Self.maxEntries) records")
        }
        struct Record {
            var created: Timestamp
            var entry: Entry
        }
        var records: [Record] = []
        var skipped = 0
        for (index, item) in items.enumerated() {
            guard let record = item.objectMembers else {
                throw WorkloadError("\(name): items[\(index)]: expected an object")
            }
            guard let created = record["created_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
                let started = record["started_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
                let finished = record["finished_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
                started <= finished
            else {
                skipped += 1
                continue
            }
            let constraints = record["runtime_constraints"]?.objectMembers ?? [:]
            let scheduling = record["scheduling_parameters"]?.objectMembers ?? [:]
            do throws(WorkloadError) {
                var scratch: Int64 = 0
                for mount in (record["mounts"]?.objectMembers ?? [:]).values
                where mount.objectMembers?["kind"]?.stringValue == "tmp" {
                    let capacity = try Self.integer(mount.objectMembers?["capacity"], key: "mounts.capacity") ?? 0
                    scratch = scratch.addingReportingOverflow(max(0, capacity)).partialValue
                }
                let vcpus = try Self.integer(constraints["vcpus"], key: "runtime_constraints.vcpus") ?? 1
                let ram = try Self.size(constraints["ram"], key: "runtime_constraints.ram") ?? 0
                let gpu = constraints["gpu"]?.objectMembers ?? [:]
                let gpus = try Self.integer(gpu["device_count"], key: "runtime_constraints.gpu.device_count") ?? 0
                let priority = try Self.integer(record["priority"], key: "priority") ?? 500
                let exitCode = try Self.integer(record["exit_code"], key: "exit_code") ?? 0
                let runSeconds = finished.date.timeIntervalSince(started.date)
                guard vcpus >= 1, vcpus <= 1 << 20, ram >= 1, gpus >= 0, gpus <= 1024 else {
                    throw WorkloadError("runtime_constraints out of range")
                }
                var preemptible = false
                if case .bool(let flag)? = scheduling["preemptible"] { preemptible = flag }
                let runTime = Duration.milliseconds(Int64(min(runSeconds, 366 * 86400) * 1000))
                let code = Int32(clamping: min(max(exitCode, 0), 255))
                var entry = Entry(submit: .zero, vcpus: Int(vcpus), ram: ram, runTime: runTime, exitCode: code)
                entry.scratch = scratch
                entry.gpus = Int(gpus)
                entry.preemptible = preemptible
                entry.priority = Int(min(max(priority, 1), 1000))
                entry.name = record["uuid"]?.stringValue.map { String($0.prefix(200)) }
                entry.user = record["owner_uuid"]?.stringValue.map { String($0.prefix(200)) }
                records.append(Record(created: created, entry: entry))
            } catch {
                throw WorkloadError("\(name): items[\(index)]: \(error.message)")
            }
        }
        guard let earliest = records.map(\.created).min() else {
            return Workload(entries: [], skipped: skipped)
        }
        let entries = records.map { record in
            var entry = record.entry
            let offset = record.created.date.timeIntervalSince(earliest.date)
            entry.submit = .milliseconds(Int64(min(offset, 366 * 86400) * 1000))
            return entry
        }
        return Workload(entries: entries, skipped: skipped)
    }
}

/// A workload file that cannot be used: the message names the file, the line or record, and the key.
public struct WorkloadError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { self.message }
}

extension JSONValue {
    fileprivate var objectMembers: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    fileprivate var arrayElements: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }
}
