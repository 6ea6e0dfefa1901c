public import Foundation

/// What the dispatcher sends a runner on stdin with `--stdin-config` (Arvados's `ConfigData`): the API
/// environment and a few settings.
public struct RunnerConfiguration: Decodable, Sendable {
    /// `ARVADOS_API_HOST`, `ARVADOS_API_TOKEN`, `InstanceType`, `GatewayAddress`, `GatewayAuthSecret`, ….
    public var env: [String: String]
    /// Keep blob buffers for a local keepstore (unused by the process engine).
    public var keepBuffers: Int

    public init(env: [String: String], keepBuffers: Int = 0) {
        self.env = env
        self.keepBuffers = keepBuffers
    }

    enum CodingKeys: String, CodingKey {
        case env = "Env"
        case keepBuffers = "KeepBuffers"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.env = try container.decodeIfPresent([String: String].self, forKey: .env) ?? [:]
        self.keepBuffers = try container.decodeIfPresent(Int.self, forKey: .keepBuffers) ?? 0
    }

    /// Reads the configuration as the flags say: `--stdin-config` (ConfigData JSON), `--stdin-env` (a JSON
    /// object of environment variables), or neither (the process environment).
    public static func read(
        stdin: Data,
        arguments: RunnerArguments,
        processEnvironment: [String: String]
    ) throws(RunnerError) -> RunnerConfiguration {
        do {
            if arguments.stdinConfig {
                return try JSONDecoder().decode(RunnerConfiguration.self, from: stdin)
            }
            if arguments.stdinEnv {
                return RunnerConfiguration(env: try JSONDecoder().decode([String: String].self, from: stdin))
            }
        } catch {
            throw RunnerError(.configuration, "cannot read the runner configuration on stdin: \(error)")
        }
        return RunnerConfiguration(env: processEnvironment)
    }
}
