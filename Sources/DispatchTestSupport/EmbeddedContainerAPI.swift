public import ArvadosAPI
import ContainerAPIServer
public import DispatchModel
public import Foundation
import Logging
import ServiceLifecycle

/// A real embedded container API on 127.0.0.1 with a fresh data directory, for tests that need the API the
/// dispatcher and runners talk to.
public struct EmbeddedContainerAPI: Sendable {
    /// The API root, `http://127.0.0.1:<port>`.
    public let url: URL
    public let port: Int
    public let dataDirectory: String
    /// The admin token the server trusts.
    public let rootToken: String
    /// Submitter tokens the server trusts.
    public let submitterTokens: [String]
    /// The server's feed of committed changes.
    let changeFeed: ChangeFeed

    public static let defaultRootToken = "root-token-for-tests"

    /// Starts a server, runs `body` against it, then stops it. The data directory is removed afterwards unless
    /// `dataDirectory` was given.
    public static func with<T: Sendable>(
        clusterID: ClusterID = "zzzzz",
        rootToken: String = Self.defaultRootToken,
        submitterTokens: [String] = ["alice-submitter-token", "bob-submitter-token"],
        maxDispatchAttempts: Int = 10,
        maxRequestBodySize: Int = 1 << 20,
        dataDirectory: String? = nil,
        admission: InstanceTypeChooser? = nil,
        _ body: (EmbeddedContainerAPI) async throws -> T
    ) async throws -> T {
        let directory =
            dataDirectory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("container-api-\(UUID().uuidString)").path
        defer { if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        var configuration = ContainerAPIServer.Configuration(
            clusterID: clusterID,
            dataDirectory: directory,
            systemRootToken: rootToken
        )
        configuration.submitterTokens = submitterTokens
        configuration.maxDispatchAttempts = maxDispatchAttempts
        configuration.maxRequestBodySize = maxRequestBodySize
        configuration.admission = admission
        var logger = Logger(label: "embedded-container-api")
        logger.logLevel = .warning
        let server = try ContainerAPIServer(configuration: configuration, logger: logger)
        return try await withRunningServices([server], logger: logger) {
            let port = try await server.listeningPort()
            let api = EmbeddedContainerAPI(
                url: URL(string: "http://127.0.0.1:\(port)")!,
                port: port,
                dataDirectory: directory,
                rootToken: rootToken,
                submitterTokens: submitterTokens,
                changeFeed: server.changes
            )
            return try await body(api)
        }
    }

    /// Every container change the server commits from now on, in commit order, in the batches an embedded
    /// dispatcher's queue gets them (``ContainerAPIServer/changes``).
    public func changes() -> AsyncStream<[Container]> {
        let subscription = self.changeFeed.subscribe()
        return AsyncStream { continuation in
            let task = Task {
                while let batch = await subscription.next() { continuation.yield(batch.containers) }
                continuation.finish()
            }
            continuation.onTermination = { _ in
                task.cancel()
                subscription.cancel()
            }
        }
    }

    /// A client with the admin token (the dispatcher's and the runners' token).
    public var rootClient: ArvadosClient { ArvadosClient(baseURL: self.url, token: self.rootToken) }

    /// The environment a runner gets: `ARVADOS_API_HOST` (with scheme) and `ARVADOS_API_TOKEN`.
    public var runnerEnvironment: [String: String] {
        ["ARVADOS_API_HOST": self.url.absoluteString, "ARVADOS_API_TOKEN": self.rootToken]
    }

    /// Creates a container with the attributes a valid create needs, overridden by `attributes`.
    public func createContainer(
        command: [String],
        priority: Int = 1,
        _ attributes: [String: JSONValue] = [:]
    ) async throws -> Container {
        var all: [String: JSONValue] = [
            "command": .array(command.map { .string($0) }),
            "container_image": .string("process"),
            "output_path": .string("/tmp"),
            "priority": .int(Int64(priority)),
            "runtime_constraints": .object(["vcpus": .int(1), "ram": .int(64 << 20)]),
        ]
        all.merge(attributes) { $1 }
        return try await self.rootClient.createContainer(all)
    }
}
