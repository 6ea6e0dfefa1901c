import CloudDriver
import CloudDriverSimulated
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import RemoteExecution

typealias TestCloud = SimulatedCloud<ManualClock, SeededRandomNumberGenerator>

enum Sim {
    static let type1 = Fixtures.instanceType(1)
    static let type2 = Fixtures.instanceType(2)
    static let secret = "0123456789abcdef0123456789abcdef01234567"
    static let initCommand =
        "umask 0177 && echo -n \"\(secret)\" >/var/run/arvados-instance-secret\necho done >/dev/null"
    static let config = Array(#"{"Env":{"ARVADOS_API_HOST":"127.0.0.1:9","ARVADOS_API_TOKEN":"x"}}"#.utf8)

    static func json(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    static func parameters(_ text: String) throws -> SimulatedCloudParameters {
        try SimulatedCloudParameters(Self.json(text))
    }

    /// A cloud on a manual clock with seed 1, whose instances boot at once unless `json` says otherwise.
    static func cloud(_ json: String = "{}", clock: ManualClock = ManualClock()) throws -> TestCloud {
        var parameters = try Self.parameters(json)
        if (try Self.json(json))[objectKey: "BootTime"] == nil {
            parameters.bootTime = .init(min: .zero, max: .zero)
        }
        parameters.seed = parameters.seed ?? 1
        return SimulatedCloud(parameters: parameters, clock: clock, logger: Logger(label: "test"))
    }

    static func create(
        _ cloud: TestCloud,
        type: InstanceType = Self.type1,
        tags: InstanceTags = [:]
    ) async throws(CloudError) -> SimulatedInstance<ManualClock, SeededRandomNumberGenerator> {
        try await cloud.create(type: type, imageID: "image", tags: tags, initCommand: Self.initCommand, publicKey: nil)
    }
}

extension JSONValue {
    subscript(objectKey key: String) -> JSONValue? {
        if case .object(let values) = self { return values[key] }
        return nil
    }
}

extension SimulatedInstance {
    /// Runs `command` with no environment.
    func run(_ command: String, stdin: [UInt8] = []) async throws(CloudError) -> CommandResult {
        try await self.execute(environment: [:], command: command, stdin: stdin)
    }
}

/// Collects a cloud's events, for tests that read them after the fact.
func drain(_ cloud: TestCloud) async -> [SimulatedCloudEvent] {
    await cloud.stop()
    var events: [SimulatedCloudEvent] = []
    for await event in cloud.events { events.append(event) }
    return events
}
