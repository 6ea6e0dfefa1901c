import DispatchModel
import DispatchTestSupport
import Testing

@Suite("Instance resources")
struct InstanceResourcesTests {
    @Test(
        "Placing a container marks the shared VCPU used only for 0-VCPU containers",
        arguments: [
            (InstanceResources(vcpus: 2), 0, true),
            (InstanceResources(vcpus: 2), 1, false),
            (InstanceResources(vcpus: 2, sharedVCPUUsed: true), 0, true),
            (InstanceResources(vcpus: 2, sharedVCPUUsed: true), 1, true),
        ]
    )
    func sharedVCPUFlag(start: InstanceResources, placedVCPUs: Int, expected: Bool) {
        #expect(start.subtracting(InstanceResources(vcpus: placedVCPUs)).sharedVCPUUsed == expected)
    }

    @Test(
        "0-VCPU containers share one VCPU, and no container fits once no VCPU remains",
        arguments: [
            (InstanceResources(vcpus: 2), 2, true),
            (InstanceResources(vcpus: 2, sharedVCPUUsed: true), 2, false),
            (InstanceResources(vcpus: 2, sharedVCPUUsed: true), 1, true),
            (InstanceResources(vcpus: 2, sharedVCPUUsed: true), 0, true),
            (InstanceResources(vcpus: 1, sharedVCPUUsed: true), 1, false),
            (InstanceResources(vcpus: 1, sharedVCPUUsed: true), 0, true),
            (InstanceResources(vcpus: 0, sharedVCPUUsed: true), 0, false),
            (InstanceResources(vcpus: 0), 0, false),
        ]
    )
    func accommodatesVCPUs(remaining: InstanceResources, needVCPUs: Int, expected: Bool) {
        #expect(remaining.accommodates(InstanceResources(vcpus: needVCPUs)) == expected)
    }

    @Test(
        "Every dimension must suffice",
        arguments: [
            (InstanceResources(vcpus: 4, ram: .giB(3)), false),
            (InstanceResources(vcpus: 4, scratch: .giB(11)), false),
            (InstanceResources(vcpus: 4, gpus: 2), false),
            (InstanceResources(vcpus: 4, gpuVRAM: .giB(9)), false),
            (InstanceResources(vcpus: 5), false),
            (InstanceResources(vcpus: 4, ram: .giB(2), scratch: .giB(10), gpus: 1, gpuVRAM: .giB(8)), true),
        ]
    )
    func everyDimension(need: InstanceResources, expected: Bool) {
        let remaining = InstanceResources(vcpus: 4, ram: .giB(2), scratch: .giB(10), gpus: 1, gpuVRAM: .giB(8))
        #expect(remaining.accommodates(need) == expected)
    }

    @Test("Subtracting takes every dimension off")
    func subtracting() {
        let type = Fixtures.instanceType(4)
        let need = InstanceResources(vcpus: 1, ram: .giB(1), scratch: .giB(1))
        let left = type.capacity.subtracting(need).subtracting(need)
        #expect(left.vcpus == 2)
        #expect(left.ram == type.ram - .giB(2))
        #expect(left.scratch == .giB(2))
        #expect(!left.sharedVCPUUsed)
    }
}
