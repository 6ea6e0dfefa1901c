import DispatchConfig
import Foundation
import Testing

/// `DataDirectory` under the user's state directory, so users of a shared host never share one.
@Suite("State directory paths")
struct StatePathTests {
    @Test(
        "~/ and $XDG_STATE_HOME/ expand for the user running the dispatcher",
        arguments: [
            ("~/state", ["HOME": "/home/ann"], "/home/ann/state"),
            ("$XDG_STATE_HOME/dc", ["HOME": "/home/ann"], "/home/ann/.local/state/dc"),
            ("$XDG_STATE_HOME/dc", ["HOME": "/home/ann", "XDG_STATE_HOME": "/srv/state"], "/srv/state/dc"),
            ("$XDG_STATE_HOME/dc", ["HOME": "/home/ann", "XDG_STATE_HOME": "relative"], "/home/ann/.local/state/dc"),
            ("/var/lib/dispatch-cloud", [:], "/var/lib/dispatch-cloud"),
            ("~/state", [:], nil),
        ] as [(String, [String: String], String?)]
    )
    func expand(value: String, environment: [String: String], expected: String?) {
        #expect(ClusterConfig.expandStatePath(value, environment: environment) == expected)
    }

    @Test("The standalone example keeps its data under the user's state directory, not a fixed /tmp path")
    func exampleDataDirectory() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let config = try ClusterConfig.load(contentsOfFile: root.appendingPathComponent("examples/standalone.yml").path)
            .config
        let environment = ProcessInfo.processInfo.environment
        let expected = ClusterConfig.expandStatePath(
            "$XDG_STATE_HOME/dispatch-cloud-standalone",
            environment: environment
        )
        #expect(config.dispatchCloud.dataDirectory == expected)
        #expect(!config.dispatchCloud.dataDirectory.hasPrefix("/tmp/"))
    }
}
