import DispatchModel
import Foundation
import Testing

@testable import ContainerAPIServer

/// Cancelling through priority 0, and refusing at create what no instance type can run.
@Suite("Cancel by priority and admission")
struct CancelAndAdmissionTests {
    static let now = Timestamp(Date(timeIntervalSince1970: 1_800_000_000))

    @Test("The owner may set a Running container's priority to 0, but not its state")
    func ownerPriorityZero() throws {
        let running = ContainerRulesTests.container(.running)
        let lowered = try ContainerRules.update(
            running,
            with: ["priority": .int(0)],
            by: Role.owner.caller,
            now: Self.now
        )
        #expect(lowered.priority == 0 && lowered.state == .running)
        #expect(throws: ContainerAPIError.self) {
            try ContainerRules.update(
                running,
                with: ["state": .string("Cancelled"), "priority": .int(0)],
                by: Role.owner.caller,
                now: Self.now
            )
        }
    }

    @Test("Unlocking a container whose owner set priority 0 cancels it instead of requeueing it")
    func unlockPriorityZeroCancels() throws {
        let next = try ContainerRules.unlock(
            ContainerRulesTests.container(.locked, priority: 0, lockCount: 1),
            by: Role.holder.caller,
            maxDispatchAttempts: 10,
            now: Self.now
        )
        #expect(next.state == .cancelled)
        #expect(next.lockedByUUID == nil)
        #expect(next.finishedAt == Self.now)
        #expect(next.runtimeStatus["error"] == nil)
    }

    static func chooser() -> InstanceTypeChooser {
        InstanceTypeChooser(
            types: [
                InstanceType(
                    name: "small",
                    providerType: "small",
                    vcpus: 2,
                    ram: ByteSize(4 << 30),
                    price: 0.1
                )
            ],
            maximumPriceFactor: 1.5,
            reserveExtraRAM: ByteSize(0),
            localKeepBlobBuffersPerVCPU: 0
        )
    }

    static func attributes(vcpus: Int64) -> [String: JSONValue] {
        [
            "command": .array([.string("true")]),
            "container_image": .string("process"),
            "output_path": .string("/tmp"),
            "priority": .int(1),
            "runtime_constraints": .object(["vcpus": .int(vcpus), "ram": .int(256 << 20)]),
        ]
    }

    @Test("With admission, a container no instance type can run is refused at create with 422 and the reason")
    func admission() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("admission-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try ContainerStore(dataDirectory: directory.path, clusterID: "zzzzz", admission: Self.chooser())
        let fits = try await store.createContainer(attributes: Self.attributes(vcpus: 2), by: Role.owner.caller)
        #expect(fits.state == .queued)
        do {
            _ = try await store.createContainer(attributes: Self.attributes(vcpus: 64), by: Role.owner.caller)
            Issue.record("a 64-VCPU container was admitted with only a 2-VCPU type")
        } catch {
            #expect(error.code.httpStatus == 422)
            #expect(error.message.contains("runtime_constraints"), "\(error.message)")
            #expect(error.message.contains("64 VCPUs"), "\(error.message)")
            #expect(error.message.contains("small (2 VCPUs"), "\(error.message)")
        }
        await #expect(throws: ContainerAPIError.self) {
            try await store.createContainers(
                attributes: [Self.attributes(vcpus: 1), Self.attributes(vcpus: 64)],
                by: Role.owner.caller
            )
        }
        let open = try ContainerStore(dataDirectory: directory.path + "-open", clusterID: "zzzzz")
        defer { try? FileManager.default.removeItem(atPath: directory.path + "-open") }
        #expect(
            try await open.createContainer(attributes: Self.attributes(vcpus: 64), by: Role.owner.caller).state
                == .queued
        )
    }
}
