public import DispatchModel

/// One quarantined (instance type, image) pair, as `GET /arvados/v1/dispatch/quarantine` lists it.
public struct QuarantineEntry: Codable, Hashable, Sendable {
    public var instanceType: InstanceTypeName
    public var imageID: String
    /// When the quarantine ends.
    public var until: Timestamp
    /// Failed boots in a row that led to it.
    public var failures: Int
    /// How many quarantines in a row (the cooldown doubles with each).
    public var level: Int

    public init(instanceType: InstanceTypeName, imageID: String, until: Timestamp, failures: Int, level: Int) {
        self.instanceType = instanceType
        self.imageID = imageID
        self.until = until
        self.failures = failures
        self.level = level
    }

    enum CodingKeys: String, CodingKey {
        case instanceType = "instance_type"
        case imageID = "image_id"
        case until
        case failures
        case level
    }
}
