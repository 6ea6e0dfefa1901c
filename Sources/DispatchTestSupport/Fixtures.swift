public import DispatchModel

/// Instance-type menus shared by tests.
public enum Fixtures: Sendable {
    /// Arvados's test fixture `type<i>`: i VCPUs, i × 1.1 GiB RAM, i GiB scratch, price i × 0.123.
    public static func instanceType(_ i: Int, preemptible: Bool = false) -> InstanceType {
        InstanceType(
            name: InstanceTypeName(rawValue: "type\(i)"),
            providerType: "providertype\(i)",
            vcpus: i,
            ram: ByteSize(Int64(i) * (1 << 30) * 11 / 10),
            includedScratch: .giB(Int64(i)),
            price: Double(i) * 0.123,
            preemptible: preemptible
        )
    }
}
