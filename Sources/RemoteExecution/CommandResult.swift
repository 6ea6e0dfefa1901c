/// What a remote command produced: its output streams and how it ended.
public struct CommandResult: Sendable, Hashable {
    /// Everything the command wrote to standard output.
    public var stdout: [UInt8]
    /// Everything the command wrote to standard error.
    public var stderr: [UInt8]
    /// The exit status the server reported, or `nil` when the command was killed by a signal or the server sent none.
    public var exitStatus: Int?
    /// The name of the signal that killed the command, without the `SIG` prefix (`"TERM"`), or `nil`.
    public var exitSignal: String?

    public init(stdout: [UInt8] = [], stderr: [UInt8] = [], exitStatus: Int? = nil, exitSignal: String? = nil) {
        self.stdout = stdout
        self.stderr = stderr
        self.exitStatus = exitStatus
        self.exitSignal = exitSignal
    }

    /// Whether the command exited with status 0.
    public var succeeded: Bool { self.exitStatus == 0 }

    /// Standard output decoded as UTF-8 (invalid bytes are replaced).
    public var stdoutText: String { String(decoding: self.stdout, as: UTF8.self) }

    /// Standard error decoded as UTF-8 (invalid bytes are replaced).
    public var stderrText: String { String(decoding: self.stderr, as: UTF8.self) }
}
