import DispatchSimulation
import Foundation
import Testing

@Suite("Workload files")
struct WorkloadTests {
    static func parse(_ text: String) throws(WorkloadError) -> Workload {
        try Workload.parse(Data(text.utf8), name: "w.jsonl")
    }

    @Test("JSON lines: durations, sizes, defaults, comments, and submission order")
    func jsonLines() throws {
        let workload = try Self.parse(
            """
            # a comment
            {"submit": "2m", "vcpus": 4, "ram": "8GiB", "runtime": "1h30m", "exit_code": 3, "name": "b"}

            {"submit": 30, "vcpus": 1, "ram": 1073741824, "scratch": "20GiB", "gpus": 1, "preemptible": true, "priority": 900, "runtime": 90.5, "user": "alice"}
            """
        )
        #expect(workload.entries.count == 2)
        let first = try #require(workload.entries.first)
        #expect(first.submit == .seconds(30))
        #expect(first.ram == 1 << 30 && first.scratch == 20 << 30 && first.gpus == 1 && first.preemptible)
        #expect(first.priority == 900 && first.runTime == .milliseconds(90_500) && first.user == "alice")
        let second = workload.entries[1]
        #expect(second.submit == .seconds(120) && second.vcpus == 4 && second.ram == 8 << 30)
        #expect(second.runTime == .seconds(5400) && second.exitCode == 3 && second.priority == 500)
        #expect(second.scratch == 0 && second.gpus == 0 && !second.preemptible && second.name == "b")
    }

    @Test(
        "Bad lines are refused with the line number and the key",
        arguments: [
            (#"{"submit": "1s", "vcpus": 1, "ram": "1GiB"}"#, "w.jsonl:1: runtime: required"),
            (#"{"submit": "1s", "vcpus": 0, "ram": "1GiB", "runtime": "1s"}"#, "w.jsonl:1: vcpus"),
            (#"{"submit": "1s", "vcpus": 1, "ram": "lots", "runtime": "1s"}"#, "w.jsonl:1: ram"),
            (#"{"submit": "soon", "vcpus": 1, "ram": "1GiB", "runtime": "1s"}"#, "w.jsonl:1: submit"),
            (#"{"submit": "1s", "vcpus": 1, "ram": "1GiB", "runtime": "1s", "colour": 1}"#, "unknown key \"colour\""),
            (#"{"submit": "1s", "vcpus": 1, "ram": "1GiB", "runtime": "1s", "exit_code": 300}"#, "exit_code"),
            (#"{"submit": "1s", "vcpus": 1, "ram": "1GiB", "runtime": "9999999h"}"#, "runtime"),
            (#"{"submit": "1s", "vcpus": 1, "ram": "1GiB", "runtime": "1s", "preemptible": 1}"#, "preemptible"),
            (
                "{\"submit\": \"1s\", \"vcpus\": 1, \"ram\": \"1GiB\", \"runtime\": \"1s\"}\nnot json",
                "w.jsonl:2: not JSON"
            ),
        ]
    )
    func badLines(line: String, expected: String) {
        #expect {
            _ = try Self.parse(line)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test("Arvados container records: offsets from the earliest, run times, sizes, and records that never ran")
    func arvadosImport() throws {
        let records = """
            {"items": [
              {"uuid": "zzzzz-dz642-000000000000001", "owner_uuid": "zzzzz-tpzed-1", "state": "Complete",
               "created_at": "2026-11-01T10:00:00Z", "started_at": "2026-11-01T10:05:00Z",
               "finished_at": "2026-11-01T11:05:00Z", "priority": 500, "exit_code": 0,
               "runtime_constraints": {"vcpus": 4, "ram": 8589934592, "gpu": {"device_count": 2}},
               "scheduling_parameters": {"preemptible": true},
               "mounts": {"/tmp": {"kind": "tmp", "capacity": 1073741824}, "/out": {"kind": "collection"}}},
              {"uuid": "zzzzz-dz642-000000000000002", "state": "Cancelled", "created_at": "2026-11-01T09:00:00Z",
               "started_at": null, "finished_at": null, "runtime_constraints": {"vcpus": 1, "ram": 1}},
              {"uuid": "zzzzz-dz642-000000000000003", "state": "Complete", "created_at": "2026-11-01T09:30:00Z",
               "started_at": "2026-11-01T09:31:00Z", "finished_at": "2026-11-01T09:31:30Z", "exit_code": 1,
               "runtime_constraints": {"vcpus": 1, "ram": 268435456}}
            ]}
            """
        let workload = try Workload.parse(Data(records.utf8), name: "records.json")
        #expect(workload.skipped == 1)
        #expect(workload.entries.count == 2)
        let first = workload.entries[0]
        #expect(first.name == "zzzzz-dz642-000000000000003" && first.submit == .zero)
        #expect(first.runTime == .seconds(30) && first.exitCode == 1 && first.ram == 256 << 20)
        let second = workload.entries[1]
        #expect(second.submit == .seconds(1800) && second.runTime == .seconds(3600))
        #expect(second.vcpus == 4 && second.gpus == 2 && second.preemptible && second.scratch == 1 << 30)
        // A bare array works too.
        let array = try Workload.parse(Data("[]".utf8), name: "empty.json")
        #expect(array.entries.isEmpty)
    }

    @Test("The example workloads parse")
    func examples() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/workloads")
        let steady = try Workload.load(contentsOfFile: directory.appendingPathComponent("steady-day.jsonl").path)
        let bursty = try Workload.load(contentsOfFile: directory.appendingPathComponent("bursty.jsonl").path)
        #expect(steady.entries.count > 1900)
        #expect(bursty.entries.contains { $0.gpus == 4 })
    }

    @Test("Random bytes never crash the parser")
    func fuzz() {
        var generator = SystemRandomNumberGenerator()
        let fragments = [
            "{", "}", "\"submit\"", ":", ",", "\"vcpus\"", "1e308", "-1", "\"1h\"", "[", "]", "null",
            "\n", "\"ram\"", "\"runtime\"", "9223372036854775807", "\"items\"", "true",
        ]
        for _ in 0..<2000 {
            let text = (0..<Int.random(in: 1...30, using: &generator)).map { _ in
                fragments.randomElement(using: &generator)!
            }.joined()
            _ = try? Workload.parse(Data(text.utf8), name: "fuzz")
        }
    }
}
