import CloudDriver
import DispatchModel
import Foundation

/// The parameters of one `RunInstances` call (reference §6.2), apart from the subnet.
struct RunInstancesRequest: Sendable {
    var type: InstanceType
    var imageID: ImageID
    var tags: InstanceTags
    var initCommand: String
    var keyName: String?
    var parameters: EC2Parameters

    /// The Query API parameters, with the network interface in `subnetID` when there is one.
    func parameters(subnetID: String?) -> [(String, String)] {
        var result: [(String, String)] = [
            ("ImageId", self.imageID.rawValue),
            ("InstanceType", self.type.providerType),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("NetworkInterface.1.AssociatePublicIpAddress", "false"),
            ("NetworkInterface.1.DeleteOnTermination", "true"),
            ("NetworkInterface.1.DeviceIndex", "0"),
            ("DisableApiTermination", "false"),
            ("InstanceInitiatedShutdownBehavior", "terminate"),
            ("MetadataOptions.HttpEndpoint", "enabled"),
            ("MetadataOptions.HttpTokens", "required"),
            ("UserData", Data("#!/bin/sh\n\(self.initCommand)\n".utf8).base64EncodedString()),
        ]
        for (number, group) in self.parameters.securityGroupIDs.enumerated() {
            result.append(("NetworkInterface.1.SecurityGroupId.\(number + 1)", group))
        }
        if let subnetID { result.append(("NetworkInterface.1.SubnetId", subnetID)) }
        // The tags go on the instance and on its volumes, so volumes are attributable too.
        let sortedTags = self.tags.sorted { $0.key < $1.key }
        for (specification, resourceType) in ["instance", "volume"].enumerated() {
            let prefix = "TagSpecification.\(specification + 1)"
            result.append(("\(prefix).ResourceType", resourceType))
            for (number, (key, value)) in sortedTags.enumerated() {
                result.append(("\(prefix).Tag.\(number + 1).Key", key))
                result.append(("\(prefix).Tag.\(number + 1).Value", value))
            }
        }
        if let keyName = self.keyName { result.append(("KeyName", keyName)) }
        if self.type.addedScratch.bytes > 0 {
            let gibibytes = (self.type.addedScratch.bytes + (1 << 30) - 1) >> 30
            result += [
                ("BlockDeviceMapping.1.DeviceName", "/dev/xvdt"),
                ("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true"),
                ("BlockDeviceMapping.1.Ebs.VolumeSize", String(gibibytes)),
                ("BlockDeviceMapping.1.Ebs.VolumeType", self.parameters.ebsVolumeType),
            ]
        }
        if self.type.preemptible {
            result += [
                ("InstanceMarketOptions.MarketType", "spot"),
                ("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior", "terminate"),
                ("InstanceMarketOptions.SpotOptions.MaxPrice", Self.priceText(self.type.price)),
            ]
        }
        if !self.parameters.iamInstanceProfile.isEmpty {
            result.append(("IamInstanceProfile.Name", self.parameters.iamInstanceProfile))
        }
        return result
    }

    /// The price as Go's `%v` prints a float64 (shortest round-trip form, no trailing `.0`).
    static func priceText(_ price: Double) -> String {
        let text = "\(price)"
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}
