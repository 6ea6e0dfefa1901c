public import CloudDriver
public import DispatchModel
import Foundation
public import RemoteExecution

/// How the EC2 driver reaches EC2 and what it asks for: the `CloudVMs.DriverParameters` of the `ec2` driver.
///
/// Keys and defaults are Arvados's (reference §4.3), plus `Endpoint`:
///
/// | Key | Default | Meaning |
/// |---|---|---|
/// | `AccessKeyID`, `SecretAccessKey` | empty | Static credentials; when empty, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` from the environment |
/// | `Region` | `$AWS_REGION`, else `$AWS_DEFAULT_REGION` | The region (required) |
/// | `Endpoint` | `https://ec2.<Region>.amazonaws.com/` | Another EC2-compatible endpoint, such as `http://127.0.0.1:5000` for moto |
/// | `SubnetID` | none | A subnet ID, or a list to try in turn when one is full or out of capacity |
/// | `SecurityGroupIDs` | none | Security groups of the instances' network interface (a list, or a map whose keys are the IDs) |
/// | `AdminUsername` | `crunch` | The user the dispatcher logs in as |
/// | `EBSVolumeType` | `gp2` | The type of the volume added for `AddedScratch` |
/// | `EBSPrice` | `0.1` | $ per GiB-month of that volume, added to the hourly price history |
/// | `IAMInstanceProfile` | none | The instance profile (by name) the instances get |
/// | `SpotPriceUpdateInterval` | `24h` | How often spot prices are fetched; `0` turns price history off |
/// | `InstanceTypeQuotaGroups` | `a, c, d, h, i, m, r, t, z → standard`, `vt → g`, `p5 → p5` | Instance-type prefixes that share a vCPU quota; merged over the defaults |
///
/// Unknown keys are ignored (an Arvados configuration lists other drivers' keys here); the driver logs them.
public struct EC2Parameters: Hashable, Sendable, CustomStringConvertible {
    /// Arvados's default quota groups (`config.default.yml`).
    public static let defaultQuotaGroups: [String: String] = [
        "a": "standard", "c": "standard", "d": "standard", "h": "standard", "i": "standard", "m": "standard",
        "r": "standard", "t": "standard", "z": "standard", "vt": "g", "p5": "p5",
    ]

    /// The static credentials, or `nil` to use the environment's.
    public var credentials: AWSCredentials?
    public var region: String = ""
    /// The endpoint override, or `nil` for AWS's regional endpoint.
    public var endpoint: EC2Endpoint?
    public var subnetIDs: [String] = []
    public var securityGroupIDs: [String] = []
    public var adminUsername = "crunch"
    public var ebsVolumeType = "gp2"
    public var ebsPrice = 0.1
    public var iamInstanceProfile = ""
    public var spotPriceUpdateInterval = Duration.seconds(24 * 3600)
    /// Instance-type prefix → quota group.
    public var quotaGroups = Self.defaultQuotaGroups
    /// The keys that were present but are not EC2 driver keys.
    public var ignoredKeys: [String] = []
    /// The host of an `EndpointURL` (not a key of this driver, which reads `Endpoint`), if one was given.
    var endpointURLHost: String?

    public init() {}

    /// Reads the parameters from a `DriverParameters` object, taking what is not configured from
    /// `environment` (`AWS_REGION`, `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`, …).
    public init(_ json: JSONValue, environment: [String: String] = [:]) throws(DriverConfigurationError) {
        self.init()
        var members: [String: JSONValue]
        switch json {
        case .null: members = [:]
        case .object(let object): members = object
        default: throw .invalidParameter("DriverParameters", "must be an object")
        }
        func string(_ key: String) throws(DriverConfigurationError) -> String? {
            guard let value = members.removeValue(forKey: key), value != .null else { return nil }
            guard case .string(let text) = value else { throw .invalidParameter(key, "must be a string") }
            return text
        }
        func strings(_ key: String) throws(DriverConfigurationError) -> [String] {
            guard let value = members.removeValue(forKey: key), value != .null else { return [] }
            switch value {
            case .string(let text): return text.isEmpty ? [] : [text]
            case .array(let elements):
                var result: [String] = []
                for element in elements {
                    guard case .string(let text) = element, !text.isEmpty else {
                        throw .invalidParameter(key, "must be a string or a list of non-empty strings")
                    }
                    result.append(text)
                }
                return result
            case .object(let set):
                return set.keys.sorted()
            default:
                throw .invalidParameter(key, "must be a string or a list of strings")
            }
        }

        let accessKeyID = try string("AccessKeyID") ?? ""
        let secretAccessKey = try string("SecretAccessKey") ?? ""
        if !accessKeyID.isEmpty || !secretAccessKey.isEmpty {
            guard !accessKeyID.isEmpty, !secretAccessKey.isEmpty else {
                throw .invalidParameter(
                    accessKeyID.isEmpty ? "AccessKeyID" : "SecretAccessKey",
                    "AccessKeyID and SecretAccessKey must be given together"
                )
            }
            self.credentials = AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey)
        }
        let region = try string("Region") ?? ""
        self.region = !region.isEmpty ? region : environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? ""
        guard !self.region.isEmpty else {
            throw .invalidParameter("Region", "no Region configured (and no AWS_REGION in the environment)")
        }
        if let endpoint = try string("Endpoint"), !endpoint.isEmpty {
            guard let parsed = EC2Endpoint(url: endpoint) else {
                throw .invalidParameter("Endpoint", "must be an http:// or https:// URL without a query")
            }
            self.endpoint = parsed
        }
        self.subnetIDs = try strings("SubnetID")
        self.securityGroupIDs = try strings("SecurityGroupIDs")
        if let user = try string("AdminUsername"), !user.isEmpty { self.adminUsername = user }
        if let type = try string("EBSVolumeType"), !type.isEmpty { self.ebsVolumeType = type }
        if let profile = try string("IAMInstanceProfile") { self.iamInstanceProfile = profile }
        if let value = members.removeValue(forKey: "EBSPrice"), value != .null {
            switch value {
            case .int(let price): self.ebsPrice = Double(price)
            case .double(let price): self.ebsPrice = price
            default: throw .invalidParameter("EBSPrice", "must be a number")
            }
            guard self.ebsPrice >= 0 else { throw .invalidParameter("EBSPrice", "must not be negative") }
        }
        if let value = members.removeValue(forKey: "SpotPriceUpdateInterval"), value != .null {
            let parsed: Duration?
            switch value {
            case .int(let seconds): parsed = .seconds(seconds)
            case .string(let text): parsed = try? GoDuration.parse(text)
            default: parsed = nil
            }
            guard let parsed, parsed >= .zero else {
                throw .invalidParameter("SpotPriceUpdateInterval", "must be a non-negative duration such as \"24h\"")
            }
            self.spotPriceUpdateInterval = parsed
        }
        if let value = members.removeValue(forKey: "InstanceTypeQuotaGroups"), value != .null {
            guard case .object(let groups) = value else {
                throw .invalidParameter("InstanceTypeQuotaGroups", "must map instance-type prefixes to group names")
            }
            for (prefix, group) in groups {
                guard case .string(let name) = group, !name.isEmpty, !prefix.isEmpty else {
                    throw .invalidParameter(
                        "InstanceTypeQuotaGroups.\(prefix)",
                        "must be a non-empty group name"
                    )
                }
                self.quotaGroups[prefix.lowercased()] = name
            }
        }
        if case .string(let url)? = members["EndpointURL"] {
            self.endpointURLHost = URLComponents(string: url)?.host ?? URLComponents(string: "https://" + url)?.host
        }
        self.ignoredKeys = members.keys.sorted()
    }

    /// Whether the cloud is a fake one on this host (moto): the endpoint is on this host, so the instances'
    /// addresses are made up.
    public var isFakeCloud: Bool { self.resolvedEndpoint.isLoopback }

    /// Which addresses may be dialled for the instances: any for a cloud elsewhere, loopback only when the
    /// endpoint is (or looks) local, or when an `EndpointURL` does (read by other tools and ignored here, but a
    /// sign of a test set-up whose instance addresses must never be dialled).
    public var instanceDialPolicy: DialPolicy {
        let hosts = [self.resolvedEndpoint.host] + (self.endpointURLHost.map { [$0] } ?? [])
        return hosts.contains { DialPolicy.forInstances(ofCloudAt: $0).loopbackOnly } ? .loopbackOnly : .unrestricted
    }

    /// The credentials to sign with: the configured ones, else the environment's; `nil` if neither.
    public func resolvedCredentials(environment: [String: String]) -> AWSCredentials? {
        self.credentials ?? AWSCredentials.fromEnvironment(environment)
    }

    /// The endpoint requests go to.
    public var resolvedEndpoint: EC2Endpoint { self.endpoint ?? EC2Endpoint(region: self.region) }

    public var description: String {
        "EC2Parameters(region: \(self.region), endpoint: \(self.resolvedEndpoint), subnets: \(self.subnetIDs), "
            + "credentials: \(self.credentials.map { "\($0)" } ?? "from the environment"))"
    }
}
