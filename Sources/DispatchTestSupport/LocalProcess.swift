import Foundation

/// Runs helper programs (ssh-keygen, a shell) for tests.
public enum LocalProcess: Sendable {
    /// What a finished program produced.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` with `arguments` to completion and returns its exit status and output.
    ///
    /// Output goes to temporary files rather than pipes, so a program that leaves a background process behind
    /// cannot hang a reader waiting for end of file. See ``SpawnedProcess`` for how it is started and awaited.
    public static func run(_ executable: String, _ arguments: [String]) async throws -> Output {
        let directory = try TemporaryDirectory(prefix: "local-process")
        defer { directory.remove() }
        let stdoutPath = try directory.write("", to: "stdout")
        let stderrPath = try directory.write("", to: "stderr")
        let process = try SpawnedProcess.spawn(
            executable,
            arguments,
            stdout: .file(stdoutPath),
            stderr: .file(stderrPath)
        )
        let termination = await process.wait()
        return Output(
            status: termination.status,
            stdout: try String(contentsOfFile: stdoutPath, encoding: .utf8),
            stderr: try String(contentsOfFile: stderrPath, encoding: .utf8)
        )
    }

    /// Whether an executable file exists at `path`.
    public static func exists(_ path: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: path)
    }
}
