public import CloudDriver
public import DispatchModel

/// An EC2 instance as `RunInstances` or `DescribeInstances` reported it.
///
/// Its ``address`` is the private IP address (instances get no public one). When the driver talks to an
/// endpoint on this host (a fake cloud such as moto), ``dialsLoopbackOnly`` is true: the addresses are made
/// up, and whoever connects to instances must refuse any that is not a loopback address.
public struct EC2Instance<C: Clock>: CloudInstance where C.Duration == Duration {
    let instanceSet: EC2InstanceSet<C>
    public let id: InstanceID
    public let address: String
    public let remoteUser: String
    public let providerType: String
    public let tags: InstanceTags
    /// EC2's state name: `pending`, `running`, `stopping`, `stopped`, `shutting-down` or `terminated`.
    public let state: String
    /// The subnet of the instance's network interface, or empty.
    public let subnetID: String
    /// The availability zone, or empty.
    public let availabilityZone: String
    /// Whether it is a spot instance.
    public let isSpot: Bool
    /// Whether only loopback addresses may be dialled for it (the endpoint is on this host).
    public let dialsLoopbackOnly: Bool
    /// The spot prices of its type in its zone when it was listed, newest first (empty for on-demand).
    let spotPrices: [InstancePrice]
    /// $ per GiB-month of the added scratch volume.
    let ebsPrice: Double

    public func setTags(_ tags: InstanceTags) async throws(CloudError) {
        try await self.instanceSet.setTags(tags, on: self.id)
    }

    public func destroy() async throws(CloudError) {
        try await self.instanceSet.terminate(self.id)
    }

    /// EC2 instances report spot price histories (``priceHistory(for:)``).
    public static var reportsPriceHistory: Bool { true }

    /// The spot price history of the instance's type in its zone, plus the hourly cost of its added scratch
    /// volume (`EBSPrice` × GiB / 30 / 24); empty for on-demand instances.
    public func priceHistory(for type: InstanceType) -> [InstancePrice] {
        let gibibytes = (type.addedScratch.bytes + (1 << 30) - 1) >> 30
        let hourlyVolume = self.ebsPrice * Double(gibibytes) / 30 / 24
        return self.spotPrices.map { InstancePrice(startTime: $0.startTime, price: $0.price + hourlyVolume) }
    }
}
