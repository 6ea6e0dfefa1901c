/// What a command run through a ``RemoteExecutor`` produced: its output streams and how it ended.
public struct CommandResult: Sendable, Hashable {
    /// Everything the command wrote to standard output.
    public var stdout: [UInt8]
    /// Everything the command wrote to standard error.
    public var stderr: [UInt8]
    /// The exit status, or `nil` when the command was killed by a signal or the server sent none.
    public var exitStatus: Int?
    /// The name of the signal that killed the command, without the `SIG` prefix (`"TERM"`), or `nil`.
    public var exitSignal: String?

    public init(stdout: [UInt8] = [], stderr: [UInt8] = [], exitStatus: Int? = nil, exitSignal: String? = nil) {
        self.stdout = stdout
        self.stderr = stderr
        self.exitStatus = exitStatus
        self.exitSignal = exitSignal
    }

    /// A result with UTF-8 text output that exited with `exitStatus`.
    public init(stdout: String = "", stderr: String = "", exitStatus: Int) {
        self.init(stdout: Array(stdout.utf8), stderr: Array(stderr.utf8), exitStatus: exitStatus)
    }

    /// Whether the command exited with status 0.
    public var succeeded: Bool { self.exitStatus == 0 }

    /// Standard output decoded as UTF-8 (invalid bytes are replaced).
    public var stdoutText: String { String(decoding: self.stdout, as: UTF8.self) }

    /// Standard error decoded as UTF-8 (invalid bytes are replaced).
    public var stderrText: String { String(decoding: self.stderr, as: UTF8.self) }

    /// How the command ended, for logs: `"1"`, `"signal TERM"`, or `"none"` when the server said nothing.
    public var ending: String {
        if let exitStatus = self.exitStatus { return String(exitStatus) }
        if let exitSignal = self.exitSignal { return "signal \(exitSignal)" }
        return "none"
    }
}
