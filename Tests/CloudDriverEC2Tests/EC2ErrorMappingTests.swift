import CloudDriver
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import CloudDriverEC2

/// EC2's documented error bodies, served by a fake endpoint on 127.0.0.1, become the right `CloudError`s.
@Suite("EC2 error mapping")
struct EC2ErrorMappingTests {
    static let m5 = InstanceType(name: "m5.large", providerType: "m5.large", vcpus: 2, ram: .giB(8), price: 0.096)

    /// What one error code must become.
    struct Case: Sendable, CustomTestStringConvertible {
        var awsCode: String
        var status: Int
        var message: String
        var code: CloudError.Code
        var scope: CloudError.CapacityScope?
        var kind: EC2APIError.Kind
        var testDescription: String { self.awsCode }
    }

    static let cases: [Case] = [
        Case(
            awsCode: "InstanceLimitExceeded",
            status: 400,
            message: "You have requested more instances (21) than your current instance limit of 20 allows.",
            code: .quotaExceeded,
            kind: .quotaExceeded
        ),
        Case(
            awsCode: "VcpuLimitExceeded",
            status: 400,
            message: "You have requested more vCPU capacity than your current vCPU limit of 32 allows.",
            code: .insufficientCapacity,
            scope: .quotaGroup("standard"),
            kind: .insufficientCapacity
        ),
        Case(
            awsCode: "InsufficientInstanceCapacity",
            status: 500,
            message: "We currently do not have sufficient m5.large capacity in the Availability Zone you requested.",
            code: .insufficientCapacity,
            scope: .instanceType(providerType: "m5.large", preemptible: false),
            kind: .insufficientCapacity
        ),
        Case(
            awsCode: "Unsupported",
            status: 400,
            message: "Your requested instance type (m5.large) is not supported in your requested Availability Zone.",
            code: .insufficientCapacity,
            scope: .instanceType(providerType: "m5.large", preemptible: false),
            kind: .insufficientCapacity
        ),
        Case(
            awsCode: "InsufficientFreeAddressesInSubnet",
            status: 400,
            message: "The specified subnet does not have enough free addresses to satisfy the request.",
            code: .quotaExceeded,
            kind: .quotaExceeded
        ),
        Case(
            awsCode: "InsufficientAddressCapacity",
            status: 400,
            message: "Not enough available addresses to satisfy your minimum request.",
            code: .quotaExceeded,
            kind: .quotaExceeded
        ),
        Case(
            awsCode: "InsufficientVolumeCapacity",
            status: 400,
            message: "There is not enough capacity to fulfill your EBS volume provision request.",
            code: .quotaExceeded,
            kind: .quotaExceeded
        ),
        Case(
            awsCode: "MaxSpotInstanceCountExceeded",
            status: 400,
            message: "The maximum number of Spot Instances for the account has been reached.",
            code: .quotaExceeded,
            kind: .quotaExceeded
        ),
        Case(
            awsCode: "RequestLimitExceeded",
            status: 503,
            message: "Request limit exceeded.",
            code: .rateLimited,
            kind: .throttled
        ),
        Case(
            awsCode: "AuthFailure",
            status: 401,
            message: "AWS was not able to validate the provided access credentials",
            code: .other,
            kind: .unauthorized
        ),
        Case(
            awsCode: "UnauthorizedOperation",
            status: 403,
            message: "You are not authorized to perform this operation.",
            code: .other,
            kind: .unauthorized
        ),
        Case(
            awsCode: "InvalidParameterValue",
            status: 400,
            message: "Value (m5.bogus) for parameter instanceType is invalid.",
            code: .other,
            kind: .invalidParameter
        ),
        Case(
            awsCode: "InvalidAMIID.Malformed",
            status: 400,
            message: "Invalid id: \"ami-bogus\"",
            code: .other,
            kind: .invalidParameter
        ),
    ]

    static func instanceSet(
        endpoint: String,
        _ extra: [String: JSONValue] = [:],
        metrics: InMemoryMetricsFactory = InMemoryMetricsFactory()
    ) throws -> EC2InstanceSet<ContinuousClock> {
        let parameters = try EC2Parameters(
            .object(["Region": "us-east-1", "Endpoint": .string(endpoint)].merging(extra) { $1 })
        )
        var logger = Logger(label: "ec2-test")
        logger.logLevel = .critical
        return EC2InstanceSet(
            parameters: parameters,
            credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"),
            clock: ContinuousClock(),
            logger: logger,
            metricsFactory: metrics
        )
    }

    static func create(
        _ set: EC2InstanceSet<ContinuousClock>,
        _ type: InstanceType = m5
    ) async throws(CloudError)
        -> EC2Instance<ContinuousClock>
    {
        try await set.create(type: type, imageID: "ami-1", tags: ["A": "b"], initCommand: "true", publicKey: nil)
    }

    @Test("RunInstances errors become CloudErrors with EC2's code as the cause", arguments: cases)
    func createErrors(_ expected: Case) async throws {
        try await FakeEC2Server.with { server, endpoint in
            server.answer { _ in (expected.status, FakeEC2Server.error(expected.awsCode, expected.message)) }
            let set = try Self.instanceSet(endpoint: endpoint)
            let error = await #expect(throws: CloudError.self) { try await Self.create(set) }
            #expect(error?.code == expected.code)
            #expect(error?.capacityScope == expected.scope)
            let cause = error?.cause as? EC2APIError
            #expect(cause?.awsCode == expected.awsCode)
            #expect(cause?.kind == expected.kind)
            #expect(cause?.httpStatus == expected.status)
            #expect(cause?.requestID == "ea966190-f9aa-478e-9ede-example")
            #expect(error?.retryAfter == (expected.code == .rateLimited ? .seconds(1) : nil))
        }
    }

    @Test("DescribeInstances errors are mapped the same way", arguments: cases.filter { $0.scope == nil })
    func listErrors(_ expected: Case) async throws {
        try await FakeEC2Server.with { server, endpoint in
            server.answer { _ in (expected.status, FakeEC2Server.error(expected.awsCode, expected.message)) }
            let set = try Self.instanceSet(endpoint: endpoint)
            let error = await #expect(throws: CloudError.self) { try await set.instances(tagged: ["A": "b"]) }
            #expect(error?.code == expected.code)
            #expect((error?.cause as? EC2APIError)?.kind == expected.kind)
        }
    }

    @Test("Every throttle code the AWS SDKs know is rate limiting", arguments: EC2ErrorMapping.throttleCodes.sorted())
    func throttleCodes(code: String) {
        let error = EC2ErrorMapping.cloudError(
            EC2APIError(awsCode: code, message: "slow down"),
            operation: "DescribeInstances",
            retryAfter: .seconds(3)
        )
        #expect(error.code == .rateLimited)
        #expect(error.retryAfter == .seconds(3))
    }

    @Test("Every quota code holds creates", arguments: EC2ErrorMapping.quotaCodes.sorted())
    func quotaCodes(code: String) {
        let error = EC2ErrorMapping.cloudError(
            EC2APIError(awsCode: code, message: "limit"),
            operation: "RunInstances",
            type: Self.m5,
            retryAfter: .zero
        )
        #expect(error.code == .quotaExceeded)
    }

    @Test("Throttling backs off from 1 s, growing while it lasts, separately for creates and lists")
    func throttleBackoff() async throws {
        try await FakeEC2Server.with { server, endpoint in
            let throttled = Locked(true)
            server.answer { _ in
                if throttled.value {
                    return (503, FakeEC2Server.error("RequestLimitExceeded", "Request limit exceeded."))
                }
                return (200, FakeEC2Server.ok("DescribeInstancesResponse", "<reservationSet/>"))
            }
            let set = try Self.instanceSet(endpoint: endpoint)
            var delays: [Duration?] = []
            for _ in 0..<3 {
                do throws(CloudError) {
                    _ = try await set.instances(tagged: [:])
                } catch {
                    delays.append(error.retryAfter)
                }
            }
            #expect(delays == [.seconds(1), .milliseconds(2500), .milliseconds(4750)])
            // Creates keep their own back-off.
            let createError = await #expect(throws: CloudError.self) { try await Self.create(set) }
            #expect(createError?.retryAfter == .seconds(1))
            // An answer that is not a throttle resets it.
            throttled.value = false
            _ = try await set.instances(tagged: [:])
            throttled.value = true
            let again = await #expect(throws: CloudError.self) { try await set.instances(tagged: [:]) }
            #expect(again?.retryAfter == .seconds(1))
        }
    }

    @Test("An ErrorResponse document (moto's form for authentication errors) is an error too")
    func errorResponseRoot() async throws {
        try await FakeEC2Server.with { server, endpoint in
            server.answer { _ in
                (
                    401,
                    "<ErrorResponse><Error><Code>AuthFailure</Code><Message>no</Message></Error>"
                        + "<RequestId>x</RequestId></ErrorResponse>"
                )
            }
            let set = try Self.instanceSet(endpoint: endpoint)
            let error = await #expect(throws: CloudError.self) { try await set.instances(tagged: [:]) }
            #expect((error?.cause as? EC2APIError)?.kind == .unauthorized)
        }
    }

    @Test("An answer that is not an EC2 document is a transport error")
    func notXML() async throws {
        try await FakeEC2Server.with { server, endpoint in
            server.answer { _ in (502, "Bad Gateway") }
            let set = try Self.instanceSet(endpoint: endpoint)
            let error = await #expect(throws: CloudError.self) { try await set.instances(tagged: [:]) }
            #expect(error?.code == .other)
            #expect((error?.cause as? EC2APIError)?.kind == .transport)
            #expect((error?.cause as? EC2APIError)?.httpStatus == 502)
        }
    }

    @Test("Destroying an instance that is gone is notFound")
    func destroyNotFound() async throws {
        try await FakeEC2Server.with { server, endpoint in
            server.answer { parameters in
                if parameters["Action"] == "RunInstances" { return (200, FakeEC2Server.runInstances(id: "i-1")) }
                return (400, FakeEC2Server.error("InvalidInstanceID.NotFound", "The instance ID 'i-1' does not exist"))
            }
            let set = try Self.instanceSet(endpoint: endpoint)
            let instance = try await Self.create(set)
            let error = await #expect(throws: CloudError.self) { try await instance.destroy() }
            #expect(error?.code == .notFound)
        }
    }
}
