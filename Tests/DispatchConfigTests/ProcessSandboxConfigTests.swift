import DispatchConfig
import Testing

/// `DispatchCloud.ProcessSandbox`: the bubblewrap sandbox of the process engine.
@Suite("ProcessSandbox configuration")
struct ProcessSandboxConfigTests {
    @Test("Absent, the sandbox is on: bwrap as nobody; given, each key is read and rendered back")
    func defaultsAndRendering() throws {
        let defaults = try #require(loadValid(cluster("SystemRootToken: x")))
        #expect(defaults.config.dispatchCloud.processSandbox.mode == .bwrap)
        #expect(defaults.config.dispatchCloud.processSandbox.user == "nobody")
        #expect(defaults.config.dispatchCloud.processSandbox.readOnlyPaths.isEmpty)

        let given = try #require(
            loadValid(
                cluster(
                    """
                    DispatchCloud:
                      ProcessSandbox:
                        Mode: auto
                        User: "1000:1000"
                        ReadOnlyPaths: [/opt/tools]
                    """
                )
            )
        )
        let sandbox = given.config.dispatchCloud.processSandbox
        #expect(sandbox.mode == .auto && sandbox.user == "1000:1000" && sandbox.readOnlyPaths == ["/opt/tools"])
        let again = try #require(loadValid(try given.config.renderEffectiveYAML()))
        #expect(again.config.dispatchCloud.processSandbox == sandbox)
    }

    @Test("Bad values are refused naming the key: an unknown mode, root, a malformed user, a relative path")
    func invalid() {
        let cases: [(String, String)] = [
            ("Mode: off", "DispatchCloud.ProcessSandbox.Mode"),
            ("User: root", "DispatchCloud.ProcessSandbox.User"),
            ("User: \"0:0\"", "DispatchCloud.ProcessSandbox.User"),
            ("User: \"bob smith\"", "DispatchCloud.ProcessSandbox.User"),
            ("ReadOnlyPaths: [opt]", "DispatchCloud.ProcessSandbox.ReadOnlyPaths[0]"),
            ("ReadOnlyPaths: [/]", "DispatchCloud.ProcessSandbox.ReadOnlyPaths[0]"),
            ("ReadOnlyPaths: [/opt/../etc]", "DispatchCloud.ProcessSandbox.ReadOnlyPaths[0]"),
        ]
        for (line, key) in cases {
            let error = loadInvalid(cluster("SystemRootToken: x\nDispatchCloud:\n  ProcessSandbox:\n    \(line)"))
            #expect("\(error.map { "\($0)" } ?? "")".contains(key), "\(line): \(error.map { "\($0)" } ?? "loaded")")
        }
    }
}
