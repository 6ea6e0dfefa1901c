public import DispatchModel

/// A group of instance types that share one provider quota (an instance family), such as EC2's `standard`.
///
/// Preemptible and on-demand instances of a family are distinct groups.
public struct InstanceQuotaGroup: StringIdentifier {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// The tags of a cloud instance: string keys and values, as every provider stores them.
public typealias InstanceTags = [String: String]
