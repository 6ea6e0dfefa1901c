import CloudDriver
import Crypto
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import NIOSSH
import RemoteExecution
import SSHExecutor
import Testing

@testable import CloudDriverEC2

/// The EC2 driver against `moto_server` on 127.0.0.1 (started once for the suite).
@Suite("EC2 driver against moto", .enabled(if: MotoServer.isInstalled, motoMissing), .motoServer, .serialized)
struct MotoEC2Tests {
    static let m5 = InstanceType(name: "m5.large", providerType: "m5.large", vcpus: 2, ram: .giB(8), price: 0.096)

    /// An instance set on the suite's moto, whose instances carry a fresh `InstanceSetID`.
    struct Fixture {
        let set: EC2InstanceSet<ContinuousClock>
        let metrics: InMemoryMetricsFactory
        let ours: InstanceTags

        init(_ extra: [String: JSONValue] = [:], pageSize: Int? = nil) throws {
            let server = try MotoServerTrait.server()
            let parameters = try EC2Parameters(
                .object(
                    [
                        "Region": "us-east-1", "Endpoint": .string(server.endpoint), "AccessKeyID": "testing",
                        "SecretAccessKey": "testing",
                    ].merging(extra) { $1 }
                )
            )
            var options = EC2InstanceSet<ContinuousClock>.Options()
            options.describePageSize = pageSize
            var logger = Logger(label: "ec2-moto-test")
            logger.logLevel = .critical
            self.metrics = InMemoryMetricsFactory()
            self.set = EC2InstanceSet(
                parameters: parameters,
                credentials: parameters.credentials!,
                options: options,
                clock: ContinuousClock(),
                logger: logger,
                metricsFactory: self.metrics
            )
            self.ours = ["InstanceSetID": "test-" + UUID().uuidString.prefix(8).lowercased()]
        }

        func create(
            _ type: InstanceType = MotoEC2Tests.m5,
            tags: InstanceTags = [:],
            publicKey: String? = nil
        ) async throws -> EC2Instance<ContinuousClock> {
            try await self.set.create(
                type: type,
                imageID: "ami-12c6146b",
                tags: self.ours.merging(tags) { $1 },
                initCommand: "echo secret > /var/run/arvados-instance-secret",
                publicKey: publicKey
            )
        }

        func listed() async throws -> [EC2Instance<ContinuousClock>] {
            try await self.set.instances(tagged: self.ours)
        }

        /// Calls the EC2 API directly (for what the driver does not do itself, such as listing subnets).
        func call(_ action: String, _ parameters: [(String, String)] = []) async throws -> XMLTree {
            try await self.set.client.call(action, parameters)
        }
    }

    static func publicKey() -> String {
        let key = Curve25519.Signing.PrivateKey()
        let blob = Self.sshString(Array("ssh-ed25519".utf8)) + Self.sshString(Array(key.publicKey.rawRepresentation))
        return "ssh-ed25519 \(Data(blob).base64EncodedString()) dispatch@test"
    }

    private static func sshString(_ bytes: [UInt8]) -> [UInt8] {
        let count = UInt32(bytes.count)
        return [UInt8(count >> 24), UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff)] + bytes
    }

    @Test("An instance is created with its tags, listed by them, retagged, destroyed and gone")
    func lifecycle() async throws {
        let fixture = try Fixture()
        let created = try await fixture.create(tags: ["InstanceType": "m5.large", "IdleBehavior": "run"])
        #expect(created.id.rawValue.hasPrefix("i-"))
        #expect(created.providerType == "m5.large")
        #expect(created.tags["IdleBehavior"] == "run")

        let other = try Fixture()
        _ = try await other.create()

        let listed = try await fixture.listed()
        #expect(listed.map(\.id) == [created.id])
        let instance = try #require(listed.first)
        #expect(instance.tags == fixture.ours.merging(["InstanceType": "m5.large", "IdleBehavior": "run"]) { $1 })
        #expect(!instance.address.isEmpty)
        #expect(instance.remoteUser == "crunch")
        #expect(instance.dialsLoopbackOnly)
        #expect(instance.priceHistory(for: Self.m5).isEmpty)

        var retagged = instance.tags
        retagged["IdleBehavior"] = "hold"
        retagged["Extra"] = "with space/and=signs"
        try await instance.setTags(retagged)
        #expect(try await fixture.listed().first?.tags == retagged)

        try await instance.destroy()
        #expect(try await fixture.listed().isEmpty)
        #expect(try await other.listed().count == 1)
    }

    @Test("Listing follows NextToken through more than one page")
    func pagination() async throws {
        let fixture = try Fixture(pageSize: 5)
        var created: Set<InstanceID> = []
        for _ in 0..<7 { created.insert(try await fixture.create().id) }
        // One page holds only five: all seven are listed only if the driver asked for the second page.
        let page = try await fixture.call(
            "DescribeInstances",
            [
                ("Filter.1.Name", "tag:InstanceSetID"), ("Filter.1.Value.1", fixture.ours["InstanceSetID"]!),
                ("MaxResults", "5"),
            ]
        )
        #expect(page.items("reservationSet").count == 5)
        #expect(page.text(at: "nextToken")?.isEmpty == false)
        let listed = try await fixture.listed()
        #expect(Set(listed.map(\.id)) == created)
        #expect(listed.count == 7)
        let gauge = fixture.metrics.lastRecordedValue(
            EC2MetricName.instances,
            ["subnet_id": listed[0].subnetID]
        )
        #expect(gauge == 7)
        for instance in listed { try await instance.destroy() }
    }

    @Test("Spot instances are requested for preemptible types and carry spot price history plus the EBS price")
    func spotPrices() async throws {
        let fixture = try Fixture(["EBSPrice": .double(0.072), "SpotPriceUpdateInterval": "1h"])
        var spot = Self.m5
        spot.name = "m5.large.preemptible"
        spot.preemptible = true
        spot.addedScratch = .giB(10)
        let created = try await fixture.create(spot)
        let instance = try #require(try await fixture.listed().first)
        #expect(instance.isSpot)
        #expect(!instance.availabilityZone.isEmpty)
        let history = instance.priceHistory(for: spot)
        #expect(!history.isEmpty)
        let ebsHourly = 0.072 * 10 / 30 / 24
        let spotPrice = try #require(history.first).price - ebsHourly
        #expect(spotPrice > 0 && spotPrice < spot.price)
        #expect(history == history.sorted { $0.startTime > $1.startTime })
        try await created.destroy()
    }

    @Test("The dispatcher's public key is imported once as a key pair named after its fingerprint")
    func keyPairImport() async throws {
        let key = Self.publicKey()
        let fixture = try Fixture()
        let first = try await fixture.create(publicKey: key)
        let fingerprint = try EC2InstanceSet<ContinuousClock>.keyFingerprints(key)[0]
        let name = "arvados-dispatch-keypair-" + fingerprint
        let pairs = try await fixture.call("DescribeKeyPairs", [("KeyName.1", name)])
        #expect(pairs.items("keySet").compactMap { $0.text(at: "keyName") } == [name])
        let described = try await fixture.call("DescribeInstances", [("InstanceId.1", first.id.rawValue)])
        #expect(described.first(named: "keyName")?.text == name)

        // A second dispatcher (a new instance set) with the same key reuses the key pair.
        let again = try Fixture()
        let second = try await again.create(publicKey: key)
        let reused = try await again.call("DescribeInstances", [("InstanceId.1", second.id.rawValue)])
        #expect(reused.first(named: "keyName")?.text == name)
        try await first.destroy()
        try await second.destroy()
    }

    @Test("A subnet that does not exist is skipped for the next one, and starts are counted per subnet")
    func subnetFailover() async throws {
        let probe = try Fixture()
        let subnets = try await probe.call("DescribeSubnets")
        let real = try #require(subnets.items("subnetSet").first?.text(at: "subnetId"))
        let bogus = "subnet-0000000000bogus0"
        let fixture = try Fixture(["SubnetID": .array([.string(bogus), .string(real)])])
        let created = try await fixture.create()
        #expect(created.subnetID == real)
        let starts = EC2MetricName.instanceStarts
        #expect(fixture.metrics.counterValue(starts, ["subnet_id": bogus, "success": "0"]) == 1)
        #expect(fixture.metrics.counterValue(starts, ["subnet_id": real, "success": "1"]) == 1)
        #expect(fixture.metrics.counterValue(starts, ["subnet_id": real, "success": "0"]) == 0)
        let listed = try await fixture.listed()
        #expect(listed.first?.subnetID == real)
        #expect(
            fixture.metrics.lastRecordedValue(EC2MetricName.instances, ["subnet_id": real])
                == 1
        )
        #expect(
            fixture.metrics.lastRecordedValue(EC2MetricName.instances, ["subnet_id": bogus])
                == 0
        )
        try await created.destroy()
    }

    @Test("SSH refuses the made-up address of an instance of a loopback endpoint without dialling it")
    func fakeAddressesAreNotDialled() async throws {
        let fixture = try Fixture()
        let created = try await fixture.create()
        let instance = try #require(try await fixture.listed().first)
        // Required, not expected: were the flag wrong, the executor below would dial the made-up address.
        try #require(instance.dialsLoopbackOnly)
        #expect(!DialPolicyCheck.isLoopback(instance.address))
        for address in [instance.address, "10.0.0.5", "10.0.0.5:22"] {
            var configuration = SSHExecutor<AddressTarget>.Configuration()
            // Were the address dialled, the attempt would fail with a timeout, not as refused.
            configuration.connectTimeout = .milliseconds(1)
            let executor = SSHExecutor(
                target: AddressTarget(address: address),
                privateKey: NIOSSHPrivateKey(ed25519Key: .init()),
                dialPolicy: DialPolicy(loopbackOnly: instance.dialsLoopbackOnly),
                configuration: configuration
            )
            let error = await #expect(throws: RemoteExecutionError.self) { try await executor.execute("true") }
            #expect(error?.code == .addressNotAllowed, "\(address)")
            await executor.close()
        }
        try await created.destroy()
    }
}

/// A target that is only an address.
struct AddressTarget: ExecutorTarget {
    var address: String
    var remoteUser: String { "crunch" }

    func verifyHostKey(_ hostKey: HostKey, over connection: some RemoteExecutor) async throws {
        throw RemoteExecutionError(code: .hostKeyRejected, message: "not expected to connect")
    }
}

enum DialPolicyCheck {
    static func isLoopback(_ address: String) -> Bool {
        address.hasPrefix("127.") || address == "::1" || address == "localhost"
    }
}
