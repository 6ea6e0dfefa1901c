public import Foundation

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
    /// Output goes to temporary files rather than pipes: Foundation's pipes are inherited by any process
    /// started concurrently (a test's sshd, say), which would hold them open and hang a reader waiting for
    /// end of file. Waiting does not block a thread.
    public static func run(_ executable: String, _ arguments: [String]) async throws -> Output {
        let directory = try TemporaryDirectory(prefix: "local-process")
        defer { directory.remove() }
        let stdoutPath = try directory.write("", to: "stdout")
        let stderrPath = try directory.write("", to: "stderr")
        let process = Self.makeProcess(executable, arguments)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        let status = try await Self.runToExit(process)
        return Output(
            status: status,
            stdout: try String(contentsOfFile: stdoutPath, encoding: .utf8),
            stderr: try String(contentsOfFile: stderrPath, encoding: .utf8)
        )
    }

    /// A `Process` that runs `executable` with `arguments` after closing every inherited descriptor above 2.
    ///
    /// Foundation does not close descriptors in the child, and SwiftNIO's sockets are not close-on-exec on
    /// Linux, so a helper started while a test's SSH server runs would otherwise keep that server's port bound
    /// after it stops. A bash prologue closes them, then executes the program.
    public static func makeProcess(_ executable: String, _ arguments: [String]) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        let prologue =
            #"for fd in /proc/$$/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done; exec "$0" "$@""#
        process.arguments = ["-c", prologue, executable] + arguments
        return process
    }

    /// Starts `process` and suspends until it exits; returns its termination status.
    static func runToExit(_ process: Process) async throws -> Int32 {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { process in
                continuation.resume(returning: process.terminationStatus)
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
    }

    /// Whether an executable file exists at `path`.
    public static func exists(_ path: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: path)
    }
}
