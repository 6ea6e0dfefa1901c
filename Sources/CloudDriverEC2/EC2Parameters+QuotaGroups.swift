public import CloudDriver
public import DispatchModel

extension EC2Parameters {
    /// The vCPU quota group of `type` (reference §6.2, `InstanceQuotaGroup`).
    ///
    /// The group is the lower-cased provider type's leading letters (`trn1.2xlarge` → `trn`), unless a
    /// configured prefix at least that long matches, the longest winning (`m5.large` → `standard`,
    /// `p5.48xlarge` → `p5`). Preemptible types get `-spot` appended: spot instances have their own quotas.
    public func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup {
        let providerType = type.providerType.lowercased()
        let family = String(providerType.prefix { $0.isLetter })
        var group = family
        var matchedLength = 0
        for (prefix, name) in self.quotaGroups
        where prefix.count >= family.count && prefix.count > matchedLength && providerType.hasPrefix(prefix) {
            group = name
            matchedLength = prefix.count
        }
        return InstanceQuotaGroup(rawValue: type.preemptible ? group + "-spot" : group)
    }
}
