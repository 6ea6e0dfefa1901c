public import Foundation

/// What a finished child process left behind.
public struct ProcessOutput: Sendable {
    /// The exit status, or the signal number for a process killed by a signal.
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs the package's own executables the way a user does, for tests that go through the command line.
public enum ProcessRunner: Sendable {
    /// The folder holding the built products: the one the running test binary sits in.
    public static var productsDirectory: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// The path of a built executable product, such as `dispatch-cloud`.
    public static func product(_ name: String) -> URL {
        self.productsDirectory.appendingPathComponent(name)
    }

    /// The repository root, found from a test source file's `#filePath`.
    public static func repositoryRoot(filePath: String = #filePath) -> URL {
        var url = URL(fileURLWithPath: filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return url
    }

    /// Runs `executable` with `arguments` to completion and collects its output.
    ///
    /// Like ``LocalProcess/run(_:_:)``: output goes to files, inherited descriptors are closed in the child, and
    /// waiting does not block a thread, so a child that leaves a detached grandchild behind cannot hang the test.
    public static func run(
        _ executable: URL,
        _ arguments: [String],
        environment: [String: String]? = nil,
        currentDirectory: URL? = nil,
        stdin: String? = nil
    ) async throws -> ProcessOutput {
        let directory = try TemporaryDirectory(prefix: "process-runner")
        defer { directory.remove() }
        let stdinPath = try directory.write(stdin ?? "", to: "stdin")
        let stdoutPath = try directory.write("", to: "stdout")
        let stderrPath = try directory.write("", to: "stderr")
        let process = try SpawnedProcess.spawn(
            executable.path,
            arguments,
            environment: environment.map { ProcessInfo.processInfo.environment.merging($0) { $1 } },
            currentDirectory: currentDirectory?.path,
            stdin: .file(stdinPath),
            stdout: .file(stdoutPath),
            stderr: .file(stderrPath)
        )
        let status = await process.wait().status
        return ProcessOutput(
            status: status,
            stdout: try String(contentsOfFile: stdoutPath, encoding: .utf8),
            stderr: try String(contentsOfFile: stderrPath, encoding: .utf8)
        )
    }
}
