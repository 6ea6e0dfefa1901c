/// Something that runs shell commands on one remote host.
///
/// `command` is interpreted by the remote user's shell. `env` is passed by prefixing the command with
/// shell-quoted `NAME='value'` assignments (see ``ShellQuote/command(_:environment:)``), because SSH servers
/// reject environment requests by default. As with any `NAME=value command` line, the variables are in the
/// environment of the command's first program; expansions in the command line itself do not see them.
public protocol CommandRunner: Sendable {
    /// Runs `command` with `stdin` as its standard input and returns its output and exit status.
    ///
    /// A command that runs and exits non-zero is not an error: inspect ``CommandResult/exitStatus``.
    /// Throws ``RemoteExecutionError`` when the command could not be run or its result was lost.
    func execute(env: [String: String], command: String, stdin: [UInt8]) async throws -> CommandResult
}

extension CommandRunner {
    /// Runs `command` with no extra environment and empty standard input.
    public func execute(_ command: String) async throws -> CommandResult {
        try await self.execute(env: [:], command: command, stdin: [])
    }
}

/// A long-lived executor for one instance: it keeps a connection open and shares it among commands.
public protocol RemoteExecutor: CommandRunner {
    /// Closes the connection; commands still running fail, and later commands fail with
    /// ``RemoteExecutionError/Code-swift.struct/closed``.
    func close() async
}
