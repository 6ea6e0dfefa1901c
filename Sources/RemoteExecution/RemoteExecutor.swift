/// Runs shell commands on one host: an instance over SSH, or in this process for the simulated cloud.
///
/// This is the one seam between the dispatcher and a worker's shell: the pool runs its probes and runner
/// commands through it, host verification reads the instance secret back through it, and `cloudtest` drives
/// an instance with it.
///
/// `command` is interpreted by the remote user's shell. Over SSH, `environment` is passed by prefixing the
/// command with shell-quoted `NAME='value'` assignments (see ``ShellQuote/command(_:environment:)``), because
/// SSH servers reject environment requests by default. As with any `NAME=value command` line, the variables
/// are in the environment of the command's first program; expansions in the command line itself do not see
/// them.
public protocol RemoteExecutor: Sendable {
    /// Runs `command` with `environment` set and `stdin` as its standard input, and returns its output and how
    /// it ended.
    ///
    /// A command that runs and exits non-zero is not an error: inspect ``CommandResult/exitStatus``.
    /// Throws (``RemoteExecutionError`` over SSH) when the host cannot be reached or the result was lost.
    func execute(environment: [String: String], command: String, stdin: [UInt8]) async throws -> CommandResult

    /// Releases the connection, if any; commands still running fail, and later commands fail with
    /// ``RemoteExecutionError/Code-swift.struct/closed``. The executor is not used afterwards.
    func close() async

    /// Whether commands are answered in this process without waiting on the network or another process (the
    /// simulated cloud's instances): a caller may then await one in its own turn instead of starting a task
    /// for it. `false` by default.
    var answersInProcess: Bool { get }
}

extension RemoteExecutor {
    /// Runs `command` with no extra environment and empty standard input.
    public func execute(_ command: String) async throws -> CommandResult {
        try await self.execute(environment: [:], command: command, stdin: [])
    }

    /// Nothing to release: the default for executors that hold no connection.
    public func close() async {}

    /// Commands go over the network or to another process: the default.
    public var answersInProcess: Bool { false }
}
