public import DispatchModel

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// What the dispatcher sends a runner on stdin with `--stdin-config` (Arvados's `ConfigData`): the API
/// environment and a few settings.
///
/// DispatchCloud's dispatcher adds `Container`, the container record it has just locked (without `mounts`,
/// which it does not keep), so the runner can start the process before its first API request; `crunch-run`
/// ignores the key, and a runner given no record (or one for another container, or not Locked) fetches it.
public struct RunnerConfiguration: Decodable, Sendable {
    /// `ARVADOS_API_HOST`, `ARVADOS_API_TOKEN`, `InstanceType`, `GatewayAddress`, `GatewayAuthSecret`, ….
    public var env: [String: String]
    /// Keep blob buffers for a local keepstore (unused by the process engine).
    public var keepBuffers: Int
    /// Whether to watch for spot interruption notices (`EC2SpotCheck`: a preemptible type on `ec2`).
    public var ec2SpotCheck = false
    /// `APIScheme`: `http` when ``env``'s `ARVADOS_API_HOST` is a plain-HTTP `host:port` (DispatchCloud's
    /// standalone API; `crunch-run` ignores the key and always uses HTTPS). Absent: HTTPS.
    public var apiScheme: String?
    /// The container record as the dispatcher locked it.
    public var container: Container?
    /// How the `process` engine isolates containers (`Sandbox`, DispatchCloud's; `crunch-run` ignores it).
    /// Absent: the defaults, which sandbox every container with bwrap.
    public var sandbox = SandboxSettings()

    public init(env: [String: String], keepBuffers: Int = 0, container: Container? = nil) {
        self.env = env
        self.keepBuffers = keepBuffers
        self.container = container
    }

    enum CodingKeys: String, CodingKey {
        case env = "Env"
        case keepBuffers = "KeepBuffers"
        case ec2SpotCheck = "EC2SpotCheck"
        case apiScheme = "APIScheme"
        case container = "Container"
        case sandbox = "Sandbox"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.env = try container.decodeIfPresent([String: String].self, forKey: .env) ?? [:]
        self.keepBuffers = try container.decodeIfPresent(Int.self, forKey: .keepBuffers) ?? 0
        self.ec2SpotCheck = try container.decodeIfPresent(Bool.self, forKey: .ec2SpotCheck) ?? false
        self.apiScheme = try container.decodeIfPresent(String.self, forKey: .apiScheme)
        // A record this runner cannot read is only a missed shortcut: it fetches the container instead.
        self.container = try? container.decodeIfPresent(Container.self, forKey: .container)
        // Unlike the record, a sandbox setting this runner cannot read is an error: never a reason to run a
        // container less isolated than the dispatcher asked.
        self.sandbox = try container.decodeIfPresent(SandboxSettings.self, forKey: .sandbox) ?? SandboxSettings()
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
            throw RunnerError(.configuration, "cannot read the runner configuration on stdin: \(Self.describe(error))")
        }
        return RunnerConfiguration(env: processEnvironment)
    }
}
