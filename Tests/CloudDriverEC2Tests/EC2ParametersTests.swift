import CloudDriver
import DispatchModel
import Testing

@testable import CloudDriverEC2

@Suite("EC2 driver parameters")
struct EC2ParametersTests {
    static func type(_ providerType: String, preemptible: Bool = false) -> InstanceType {
        InstanceType(
            name: InstanceTypeName(rawValue: providerType),
            providerType: providerType,
            vcpus: 2,
            ram: .giB(4),
            price: 0.1,
            preemptible: preemptible
        )
    }

    @Test("Defaults match Arvados's, and credentials come from the environment when not configured")
    func defaults() throws {
        let parameters = try EC2Parameters(
            .object(["Region": "us-east-1"]),
            environment: ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"]
        )
        #expect(parameters.adminUsername == "crunch")
        #expect(parameters.ebsVolumeType == "gp2")
        #expect(parameters.ebsPrice == 0.1)
        #expect(parameters.spotPriceUpdateInterval == .seconds(86400))
        #expect(parameters.subnetIDs.isEmpty)
        #expect(parameters.credentials == nil)
        #expect(parameters.resolvedEndpoint.url == "https://ec2.us-east-1.amazonaws.com/")
        let credentials = parameters.resolvedCredentials(environment: [
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t",
        ])
        #expect(credentials == AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s", sessionToken: "t"))
    }

    @Test("Every key is read; SubnetID may be a string or a list; unknown keys are only noted")
    func allKeys() throws {
        let parameters = try EC2Parameters(
            .object([
                "AccessKeyID": "AKID", "SecretAccessKey": "wJalrXUtnFEMIsecret", "Region": "eu-west-1",
                "Endpoint": "http://127.0.0.1:5000", "SubnetID": .array(["subnet-a", "subnet-b"]),
                "SecurityGroupIDs": .object(["sg-1": .object([:]), "sg-2": .object([:])]),
                "AdminUsername": "admin", "EBSVolumeType": "gp3", "EBSPrice": .double(0.08),
                "IAMInstanceProfile": "worker", "SpotPriceUpdateInterval": "1h",
                "InstanceTypeQuotaGroups": .object(["G": "gpu"]), "SubscriptionID": "",
            ])
        )
        #expect(parameters.credentials == AWSCredentials(accessKeyID: "AKID", secretAccessKey: "wJalrXUtnFEMIsecret"))
        #expect(parameters.endpoint?.isLoopback == true)
        #expect(parameters.subnetIDs == ["subnet-a", "subnet-b"])
        #expect(parameters.securityGroupIDs == ["sg-1", "sg-2"])
        #expect(parameters.adminUsername == "admin")
        #expect(parameters.ebsVolumeType == "gp3")
        #expect(parameters.ebsPrice == 0.08)
        #expect(parameters.iamInstanceProfile == "worker")
        #expect(parameters.spotPriceUpdateInterval == .seconds(3600))
        #expect(parameters.quotaGroups["g"] == "gpu")
        #expect(parameters.quotaGroups["m"] == "standard")
        #expect(parameters.ignoredKeys == ["SubscriptionID"])
        #expect(!"\(parameters)".contains("wJalrXUtnFEMIsecret"))
        let single = try EC2Parameters(.object(["Region": "r", "SubnetID": "subnet-x"]))
        #expect(single.subnetIDs == ["subnet-x"])
    }

    @Test(
        "Invalid parameters name their key",
        arguments: [
            (JSONValue.object([:]), "Region"),
            (.object(["Region": "r", "AccessKeyID": "AKID"]), "SecretAccessKey"),
            (.object(["Region": "r", "Endpoint": "ftp://example"]), "Endpoint"),
            (.object(["Region": "r", "SubnetID": .int(3)]), "SubnetID"),
            (.object(["Region": "r", "EBSPrice": "cheap"]), "EBSPrice"),
            (.object(["Region": "r", "SpotPriceUpdateInterval": "soon"]), "SpotPriceUpdateInterval"),
            (.array([]), "DriverParameters"),
        ]
    )
    func invalid(json: JSONValue, key: String) {
        let error = #expect(throws: DriverConfigurationError.self) { try EC2Parameters(json, environment: [:]) }
        #expect(error?.key == key)
    }

    @Test(
        "Quota groups follow the alphabetic prefix, configured prefixes and spot",
        arguments: [
            ("m1.xlarge", false, "standard"),
            ("t3.micro", false, "standard"),
            ("p4.xlarge", true, "p-spot"),
            ("p5.xlarge", true, "p5-spot"),
            ("p5.48xlarge", false, "p5"),
            ("trn1.2xlarge", false, "trn"),
            ("inf1.xlarge", false, "inf"),
            ("vt1.3xlarge", false, "g"),
            ("G4dn.xlarge", false, "g"),
            ("c5.large", true, "standard-spot"),
        ]
    )
    func quotaGroups(providerType: String, preemptible: Bool, expected: String) throws {
        let parameters = try EC2Parameters(.object(["Region": "r"]))
        #expect(parameters.quotaGroup(for: Self.type(providerType, preemptible: preemptible)).rawValue == expected)
    }

    @Test(
        "Only endpoints on this host count as loopback",
        arguments: [
            ("http://127.0.0.1:5000", true),
            ("http://127.1.2.3:80/", true),
            ("http://localhost:5000", true),
            ("http://[::1]:5000", true),
            ("https://ec2.us-east-1.amazonaws.com", false),
            ("http://10.0.0.5:5000", false),
            ("http://127.0.0.1.example.com", false),
        ]
    )
    func loopbackEndpoints(url: String, loopback: Bool) throws {
        let endpoint = try #require(EC2Endpoint(url: url))
        #expect(endpoint.isLoopback == loopback)
    }

    @Test("The Host header carries the port unless it is the scheme's default")
    func hostHeader() throws {
        #expect(EC2Endpoint(url: "http://127.0.0.1:5000")?.hostHeader == "127.0.0.1:5000")
        #expect(EC2Endpoint(url: "http://[::1]:5000/")?.hostHeader == "[::1]:5000")
        #expect(EC2Endpoint(url: "https://ec2.example.com:443/")?.hostHeader == "ec2.example.com")
        #expect(EC2Endpoint(url: "https://ec2.example.com:443/")?.url == "https://ec2.example.com/")
    }

    @Test("The throttle back-off grows from 1 s by ×1.5 + 1 s up to 1 min, and resets")
    func backoff() {
        var backoff = ThrottleBackoff()
        var delays: [Duration] = []
        for _ in 0..<14 { delays.append(backoff.throttled()) }
        #expect(delays.prefix(3) == [.seconds(1), .milliseconds(2500), .milliseconds(4750)])
        #expect(delays.last == .seconds(60))
        #expect(delays == delays.sorted())
        backoff.reset()
        #expect(backoff.throttled() == .seconds(1))
    }

    @Test("Spot prices print as Go's %v does")
    func priceText() {
        #expect(RunInstancesRequest.priceText(0.5) == "0.5")
        #expect(RunInstancesRequest.priceText(2) == "2")
        #expect(RunInstancesRequest.priceText(0.096) == "0.096")
    }
}
