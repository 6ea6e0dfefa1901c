import CloudDriver
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

@testable import CloudDriverEC2

/// What `create` sends, and how it moves between subnets, checked against a fake endpoint on 127.0.0.1.
@Suite("EC2 create requests")
struct EC2CreateRequestTests {
    static let publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHXq3wJ2b4bZ2Ol3m5Tn3TnmZ3WvV8S7pQ9bX1cZ3Ggs test@host"

    @Test("RunInstances carries tags for instance and volumes, user data, IMDSv2, scratch, spot and profile")
    func runInstancesParameters() async throws {
        try await FakeEC2Server.with { server, endpoint in
            server.answer { parameters in
                switch parameters["Action"] {
                case "RunInstances": (200, FakeEC2Server.runInstances(id: "i-1", subnet: "subnet-a"))
                case "DescribeKeyPairs": (200, FakeEC2Server.ok("DescribeKeyPairsResponse", "<keySet/>"))
                default: (200, FakeEC2Server.ok("ImportKeyPairResponse", "<keyName>k</keyName>"))
                }
            }
            let set = try EC2ErrorMappingTests.instanceSet(
                endpoint: endpoint,
                [
                    "SubnetID": "subnet-a", "SecurityGroupIDs": .array(["sg-1", "sg-2"]),
                    "IAMInstanceProfile": "worker-profile", "EBSVolumeType": "gp3",
                ]
            )
            let type = InstanceType(
                name: "m5.large.spot",
                providerType: "m5.large",
                vcpus: 2,
                ram: .giB(8),
                addedScratch: ByteSize(64 << 30 + 1),
                price: 0.048,
                preemptible: true
            )
            let instance = try await set.create(
                type: type,
                imageID: "ami-0123",
                tags: ["InstanceSetID": "zzzzz-set", "InstanceSecret": "s3cret"],
                initCommand: "echo hello",
                publicKey: Self.publicKey
            )
            #expect(instance.id == "i-1")
            #expect(instance.address == "10.0.0.5")
            #expect(instance.subnetID == "subnet-a")
            #expect(instance.remoteUser == "crunch")
            #expect(instance.dialsLoopbackOnly)

            let run = try #require(server.requests("RunInstances").first)
            let expected: [String: String] = [
                "ImageId": "ami-0123", "InstanceType": "m5.large", "MinCount": "1", "MaxCount": "1",
                "NetworkInterface.1.SubnetId": "subnet-a",
                "NetworkInterface.1.SecurityGroupId.1": "sg-1", "NetworkInterface.1.SecurityGroupId.2": "sg-2",
                "NetworkInterface.1.AssociatePublicIpAddress": "false",
                "NetworkInterface.1.DeleteOnTermination": "true", "NetworkInterface.1.DeviceIndex": "0",
                "InstanceInitiatedShutdownBehavior": "terminate",
                "MetadataOptions.HttpEndpoint": "enabled", "MetadataOptions.HttpTokens": "required",
                "UserData": Data("#!/bin/sh\necho hello\n".utf8).base64EncodedString(),
                "TagSpecification.1.ResourceType": "instance", "TagSpecification.2.ResourceType": "volume",
                "TagSpecification.1.Tag.1.Key": "InstanceSecret", "TagSpecification.1.Tag.1.Value": "s3cret",
                "TagSpecification.1.Tag.2.Key": "InstanceSetID", "TagSpecification.1.Tag.2.Value": "zzzzz-set",
                "TagSpecification.2.Tag.2.Key": "InstanceSetID", "TagSpecification.2.Tag.2.Value": "zzzzz-set",
                "BlockDeviceMapping.1.DeviceName": "/dev/xvdt", "BlockDeviceMapping.1.Ebs.VolumeSize": "65",
                "BlockDeviceMapping.1.Ebs.VolumeType": "gp3", "BlockDeviceMapping.1.Ebs.DeleteOnTermination": "true",
                "InstanceMarketOptions.MarketType": "spot",
                "InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior": "terminate",
                "InstanceMarketOptions.SpotOptions.MaxPrice": "0.048",
                "IamInstanceProfile.Name": "worker-profile",
            ]
            for (key, value) in expected {
                #expect(run[key] == value, "\(key)")
            }
            let fingerprints = try EC2InstanceSet<ContinuousClock>.keyFingerprints(Self.publicKey)
            #expect(run["KeyName"] == "arvados-dispatch-keypair-" + fingerprints[0])
            let describe = try #require(server.requests("DescribeKeyPairs").first)
            #expect(describe["Filter.1.Name"] == "fingerprint")
            #expect(describe["Filter.1.Value.1"] == fingerprints[0])
            let imported = try #require(server.requests("ImportKeyPair").first)
            #expect(imported["PublicKeyMaterial"] == Data(Self.publicKey.utf8).base64EncodedString())

            // The key pair is looked up once per instance set.
            _ = try await set.create(
                type: type,
                imageID: "ami-0123",
                tags: [:],
                initCommand: "",
                publicKey: Self.publicKey
            )
            #expect(server.requests("DescribeKeyPairs").count == 1)
            #expect(server.requests("ImportKeyPair").count == 1)
        }
    }

    @Test("An on-demand type without scratch asks for no volume and no spot market")
    func onDemand() async throws {
        try await FakeEC2Server.with { server, endpoint in
            server.answer { _ in (200, FakeEC2Server.runInstances(id: "i-2")) }
            let set = try EC2ErrorMappingTests.instanceSet(endpoint: endpoint)
            _ = try await EC2ErrorMappingTests.create(set)
            let run = try #require(server.requests("RunInstances").first)
            #expect(
                run.keys.filter { $0.hasPrefix("BlockDeviceMapping") || $0.hasPrefix("InstanceMarketOptions") }.isEmpty
            )
            #expect(run["KeyName"] == nil)
            #expect(run["NetworkInterface.1.SubnetId"] == nil)
            #expect(run["IamInstanceProfile.Name"] == nil)
        }
    }

    @Test("Ed25519 fingerprints are base64 SHA-256 of the key blob, with and without padding")
    func fingerprints() throws {
        let fingerprints = try EC2InstanceSet<ContinuousClock>.keyFingerprints(Self.publicKey)
        #expect(fingerprints.count == 3)
        #expect(fingerprints[0].hasPrefix("SHA256:"))
        #expect(fingerprints[1].hasSuffix("="))
        #expect(fingerprints[0] == "SHA256:" + fingerprints[2])
        #expect(throws: KeyFingerprintError.self) {
            try EC2InstanceSet<ContinuousClock>.keyFingerprints("ecdsa-sha2-nistp256 AAAAE2VjZHNh")
        }
    }

    @Test("Create moves to the next subnet on subnet-specific errors and reports the last capacity error")
    func subnetFailover() async throws {
        try await FakeEC2Server.with { server, endpoint in
            let failing = Locked<[String: (String, String)]>([
                "subnet-a": (
                    "InsufficientFreeAddressesInSubnet", "The specified subnet does not have enough free addresses."
                ),
                "subnet-b": ("InsufficientInstanceCapacity", "We currently do not have sufficient m5.large capacity."),
            ])
            server.answer { parameters in
                let subnet = parameters["NetworkInterface.1.SubnetId"] ?? ""
                if let (code, message) = failing.value[subnet] { return (400, FakeEC2Server.error(code, message)) }
                return (200, FakeEC2Server.runInstances(id: "i-\(subnet)", subnet: subnet))
            }
            let metrics = InMemoryMetricsFactory()
            let set = try EC2ErrorMappingTests.instanceSet(
                endpoint: endpoint,
                ["SubnetID": .array(["subnet-a", "subnet-b", "subnet-c"])],
                metrics: metrics
            )
            let instance = try await EC2ErrorMappingTests.create(set)
            #expect(instance.subnetID == "subnet-c")
            #expect(
                server.requests("RunInstances").map { $0["NetworkInterface.1.SubnetId"] } == [
                    "subnet-a", "subnet-b", "subnet-c",
                ]
            )
            let starts = EC2MetricName.instanceStarts
            #expect(metrics.counterValue(starts, ["subnet_id": "subnet-a", "success": "0"]) == 1)
            #expect(metrics.counterValue(starts, ["subnet_id": "subnet-b", "success": "0"]) == 1)
            #expect(metrics.counterValue(starts, ["subnet_id": "subnet-c", "success": "1"]) == 1)
            #expect(metrics.counterValue(starts, ["subnet_id": "subnet-a", "success": "1"]) == 0)

            // The next create starts at the subnet that worked.
            _ = try await EC2ErrorMappingTests.create(set)
            #expect(server.requests("RunInstances").last?["NetworkInterface.1.SubnetId"] == "subnet-c")

            // When every subnet fails, the last capacity error is reported, not the last error.
            failing.value["subnet-c"] = ("InvalidSubnetID.NotFound", "The subnet ID 'subnet-c' does not exist")
            let error = await #expect(throws: CloudError.self) { try await EC2ErrorMappingTests.create(set) }
            #expect(error?.code == .insufficientCapacity)
            #expect((error?.cause as? EC2APIError)?.awsCode == "InsufficientInstanceCapacity")
        }
    }

    @Test("An error that another subnet would not avoid is returned without trying the next subnet")
    func noFailoverOnOtherErrors() async throws {
        try await FakeEC2Server.with { server, endpoint in
            server.answer { _ in
                (
                    400,
                    FakeEC2Server.error("InvalidParameterValue", "Value (bogus) for parameter instanceType is invalid.")
                )
            }
            let set = try EC2ErrorMappingTests.instanceSet(
                endpoint: endpoint,
                ["SubnetID": .array(["subnet-a", "subnet-b"])]
            )
            let error = await #expect(throws: CloudError.self) { try await EC2ErrorMappingTests.create(set) }
            #expect((error?.cause as? EC2APIError)?.kind == .invalidParameter)
            #expect(server.requests("RunInstances").count == 1)
        }
    }

    @Test(
        "Subnet-specific errors are recognised by code and message",
        arguments: [
            ("InvalidSubnetID.NotFound", "", true),
            ("InsufficientFreeAddressesInSubnet", "", true),
            ("InsufficientInstanceCapacity", "", true),
            ("InsufficientVolumeCapacity", "", true),
            ("Unsupported", "", true),
            ("InvalidParameterValue", "The specified subnet subnet-1 is not in the VPC", true),
            ("InvalidParameterValue", "Value (bogus) for parameter instanceType is invalid", false),
            ("InvalidParameterValue", "subnet-1: no", false),
            ("InvalidParameterCombination", "does not have sufficient free IPv6 addresses", true),
            ("InstanceLimitExceeded", "", false),
            ("RequestLimitExceeded", "", false),
        ]
    )
    func subnetSpecific(code: String, message: String, expected: Bool) {
        #expect(EC2ErrorMapping.isSubnetSpecific(EC2APIError(awsCode: code, message: message)) == expected)
    }
}
