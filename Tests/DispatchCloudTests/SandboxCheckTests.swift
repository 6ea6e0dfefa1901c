import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

@testable import DispatchCloud

/// What the dispatcher checks of the process sandbox and of its own files before it starts.
@Suite("Sandbox and file checks")
struct SandboxCheckTests {
    static func config(mode: String, driver: String = "loopback") throws -> ClusterConfig {
        var cluster = StandaloneCluster(dataDirectory: "/nonexistent", apiPort: 1)
        cluster.driver = driver
        cluster.processSandboxMode = mode
        return try ClusterConfig.load(yaml: cluster.yaml, sourceName: "test").config
    }

    @Test("Mode bwrap with the loopback driver and no bwrap refuses to start, saying how to fix it")
    func missingBwrap() throws {
        let error = #expect(throws: DispatcherError.self) {
            try Dispatcher.runnerSandbox(Self.config(mode: "bwrap"), bwrapLocations: ["/nonexistent/bwrap"])
        }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("install it (apt-get install bubblewrap)") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("DispatchCloud.ProcessSandbox.Mode: none") == true)
        // auto and none start anyway (the runner falls back or does not sandbox), as does another driver.
        for mode in ["auto", "none"] {
            let document = try Dispatcher.runnerSandbox(Self.config(mode: mode), bwrapLocations: ["/nonexistent"])
            guard case .object(let members) = document else {
                Issue.record("not an object: \(document)")
                continue
            }
            #expect(members["Mode"] == .string(mode))
        }
        _ = try Dispatcher.runnerSandbox(Self.config(mode: "bwrap", driver: "simulated"), bwrapLocations: [])
    }

    @Test("The runners get the sandbox settings")
    func document() throws {
        let document = try Dispatcher.runnerSandbox(Self.config(mode: "auto"))
        #expect(
            document == .object(["Mode": .string("auto"), "User": .string("nobody"), "ReadOnlyPaths": .array([])])
        )
    }

    @Test("A world-readable configuration file is warned about; a data directory open to others is made 0700")
    func permissions() throws {
        let directory = try TemporaryDirectory(prefix: "file-checks")
        defer { directory.remove() }
        let open = try directory.write("x", to: "open.yml", permissions: 0o644)
        let closed = try directory.write("x", to: "closed.yml", permissions: 0o600)
        #expect(Dispatcher.configurationFileWarning(path: open)?.contains("readable by every user") == true)
        #expect(Dispatcher.configurationFileWarning(path: closed) == nil)

        let data = directory.file("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
        _ = chmod(data, 0o755)
        #expect(Dispatcher.makePrivate(directory: data) == 0o755)
        let mode = try FileManager.default.attributesOfItem(atPath: data)[.posixPermissions] as? Int
        #expect(mode == 0o700)
        #expect(Dispatcher.makePrivate(directory: data) == nil)
    }
}
