import DispatchModel
import DispatchTestSupport
import Testing

/// Hostile sizes (issue 13, finding 1): a container whose numbers overflow Int64 arithmetic used to trap in
/// `resourcesNeeded(for:)`, taking the daemon down at admission and again at every restart. Now the arithmetic
/// saturates and such a container is refused as unsatisfiable, with the field named.
@Suite("Instance-type choice with hostile sizes")
struct InstanceTypeChooserOverflowTests {
    static let menu = [
        InstanceType(name: "small", vcpus: 2, ram: .giB(4), includedScratch: .giB(50), price: 0.1),
        InstanceType(name: "huge", vcpus: 96, ram: .tiB(2), includedScratch: .tiB(20), price: 9),
    ]
    /// Arvados's defaults: 550 MiB reserve and one local blob buffer per VCPU, so every container gets overhead.
    static let chooser = InstanceTypeChooser(types: Self.menu)
    static let pdh = "0123456789abcdef0123456789abcdef"

    static func container(
        vcpus: Int = 1,
        ram: Int64 = 1 << 30,
        keepCacheRAM: Int64 = 0,
        keepCacheDisk: Int64 = 0,
        gpus: Int = 0,
        vram: Int64 = 0,
        mounts: [String: Mount] = [:],
        image: String = ""
    ) -> Container {
        Container(
            uuid: "zzzzz-dz642-000000000000001",
            containerImage: image,
            runtimeConstraints: RuntimeConstraints(
                vcpus: vcpus,
                ram: ram,
                keepCacheRAM: keepCacheRAM,
                keepCacheDisk: keepCacheDisk,
                gpu: GPURuntimeConstraints(deviceCount: gpus, vram: vram)
            ),
            mounts: mounts
        )
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var container: Container
        var mentions: String
        var testDescription: String { self.label }
    }

    static let cases: [Case] = [
        Case(label: "ram near Int64.max", container: container(ram: Int64.max - 10), mentions: "RAM needed"),
        Case(label: "ram Int64.max", container: container(ram: Int64.max), mentions: "RAM needed"),
        Case(label: "negative ram", container: container(ram: -1), mentions: "runtime_constraints.ram"),
        Case(
            label: "large negative keep_cache_ram",
            container: container(keepCacheRAM: Int64.min + 1),
            mentions: "runtime_constraints.keep_cache_ram"
        ),
        Case(
            label: "keep_cache_ram Int64.max",
            container: container(keepCacheRAM: Int64.max),
            mentions: "RAM needed"
        ),
        Case(label: "vcpus Int.max", container: container(vcpus: Int.max), mentions: "RAM needed"),
        Case(label: "negative vcpus", container: container(vcpus: -4), mentions: "runtime_constraints.vcpus"),
        Case(
            label: "two tmp mounts adding past Int64.max",
            container: container(mounts: [
                "/tmp": Mount(kind: "tmp", capacity: Int64.max / 2 + 1),
                "/scratch": Mount(kind: "tmp", capacity: Int64.max / 2 + 1),
            ]),
            mentions: "scratch space needed"
        ),
        Case(
            label: "negative tmp capacity",
            container: container(mounts: ["/tmp": Mount(kind: "tmp", capacity: -5)]),
            mentions: "mounts[\"/tmp\"].capacity"
        ),
        Case(
            label: "image size hint near Int64.max",
            container: container(image: "\(pdh)+9223372036854775000"),
            mentions: "scratch space needed"
        ),
        Case(
            label: "image size hint beyond Int64",
            container: container(image: "\(pdh)+99999999999999999999999999"),
            mentions: "scratch space needed"
        ),
        Case(
            label: "keep_cache_disk Int64.max with an image",
            container: container(keepCacheDisk: Int64.max, image: "\(pdh)+4000"),
            mentions: "scratch space needed"
        ),
        Case(label: "negative GPU count", container: container(gpus: -1), mentions: "gpu.device_count"),
        Case(label: "negative VRAM", container: container(vram: -1), mentions: "gpu.vram"),
    ]

    @Test("A container whose sizes are negative or overflow is unsatisfiable, with the field named", arguments: cases)
    func hostileSizesAreRefused(_ testCase: Case) {
        // Before the fix this trapped ("arithmetic overflow") for the overflowing cases, and the negative ones
        // were admitted onto the smallest type.
        _ = Self.chooser.resourcesNeeded(for: testCase.container)
        #expect(throws: InstanceTypeChoiceError.self) { try Self.chooser.eligibleTypes(for: testCase.container) }
        do {
            _ = try Self.chooser.eligibleTypes(for: testCase.container)
        } catch {
            #expect(error.code == .constraintsNotSatisfiable)
            #expect(error.message.contains(testCase.mentions), "\(error.message)")
        }
        #expect(Self.chooser.impossibleRequest(testCase.container) != nil)
    }

    @Test("Saturation leaves sane sizes exactly as before")
    func saneSizesUnchanged() throws {
        // 1 GiB + 550 MiB + 220 MiB + 70.4 MiB, over 0.95 — the formula of Arvados's node_size.go.
        let container = Self.container(ram: 1 << 30)
        let need = Self.chooser.resourcesNeeded(for: container)
        let expected = ((1 << 30) + (550 << 20) + (220 << 20) + Int64(1) * (1 << 26) * 11 / 10) * 100 / 95
        #expect(need.ram.bytes == expected)
        #expect(Self.chooser.impossibleRequest(container) == nil)
        #expect(try Self.chooser.cheapestType(for: container).name == "small")
        // The largest sane request still fits the largest type.
        let big = Self.container(vcpus: 96, ram: 1 << 40)
        #expect(try Self.chooser.cheapestType(for: big).name == "huge")
    }

    @Test("The image estimate saturates instead of overflowing, and keeps its formula below that")
    func imageEstimate() {
        #expect(
            InstanceTypeChooser.estimatedImageSize(portableDataHash: "\(Self.pdh)+4000") == (4000 - 80) / 42
                * (64 << 20)
        )
        #expect(InstanceTypeChooser.estimatedImageSize(portableDataHash: "\(Self.pdh)+\(Int64.max)") == Int64.max)
        #expect(InstanceTypeChooser.estimatedImageSize(portableDataHash: "\(Self.pdh)+1\(Int64.max)") == Int64.max)
        #expect(InstanceTypeChooser.estimatedImageSize(portableDataHash: "\(Self.pdh)+121") == 0)
    }

    @Test("Random sizes never trap, and a refused container always says why")
    func randomSizesNeverTrap() {
        let budget = FuzzBudget(name: "instance-type-choice", defaultCases: 5000)
        var random = budget.generator()
        let started = ContinuousClock.now
        let edges: [Int64] = [0, 1, -1, Int64.max, Int64.min, Int64.max / 2 + 1, 1 << 40, -(1 << 40)]
        func value() -> Int64 {
            Bool.random(using: &random) ? random.pick(edges) : random.edgyInt64()
        }
        for _ in 0..<budget.cases {
            let container = Self.container(
                vcpus: Int(truncatingIfNeeded: value()),
                ram: value(),
                keepCacheRAM: value(),
                keepCacheDisk: value(),
                gpus: Int(truncatingIfNeeded: value()),
                vram: value(),
                mounts: ["/a": Mount(kind: "tmp", capacity: value()), "/b": Mount(kind: "tmp", capacity: value())],
                image: "\(Self.pdh)+\(UInt64.random(in: 0 ... .max, using: &random))"
            )
            do {
                let types = try Self.chooser.eligibleTypes(for: container)
                #expect(!types.isEmpty)
                #expect(Self.chooser.impossibleRequest(container) == nil)
            } catch {
                #expect(!error.message.isEmpty)
            }
        }
        budget.report(cases: budget.cases, elapsed: ContinuousClock.now - started)
    }
}
