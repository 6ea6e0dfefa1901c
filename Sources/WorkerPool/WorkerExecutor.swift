public import CloudDriver

/// Runs shell commands on one worker VM: the pool's seam to SSH (or to an in-process simulated instance).
///
/// The pool makes one executor per instance with its `makeExecutor` factory, runs its probes and runner
/// commands through it, one probe at a time, and closes it when the instance is gone.
public protocol WorkerExecutor: Sendable {
    /// Runs `command` on the worker with `environment` set and `stdin` as input.
    ///
    /// Throws when the worker cannot be reached; a command that runs and fails returns a non-zero
    /// ``WorkerCommandResult/exitStatus``.
    func execute(environment: [String: String], command: String, stdin: [UInt8]) async throws -> WorkerCommandResult

    /// Uses the freshest listing of the instance (address, tags) for later connections; called on every sync.
    func setTarget(_ instance: any CloudInstance) async

    /// Releases the connection; the executor is not used afterwards.
    func close() async
}

extension WorkerExecutor {
    /// Ignores the new listing: for executors whose target never changes.
    public func setTarget(_ instance: any CloudInstance) async {}
}

/// What a command run through a ``WorkerExecutor`` produced.
public struct WorkerCommandResult: Hashable, Sendable {
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public var exitStatus: Int32

    public init(stdout: [UInt8], stderr: [UInt8], exitStatus: Int32) {
        self.stdout = stdout
        self.stderr = stderr
        self.exitStatus = exitStatus
    }

    /// A result with UTF-8 text output.
    public init(stdout: String = "", stderr: String = "", exitStatus: Int32) {
        self.init(stdout: Array(stdout.utf8), stderr: Array(stderr.utf8), exitStatus: exitStatus)
    }

    /// The standard output decoded as UTF-8.
    public var stdoutText: String { String(decoding: self.stdout, as: UTF8.self) }
    /// The standard error decoded as UTF-8.
    public var stderrText: String { String(decoding: self.stderr, as: UTF8.self) }
    /// Whether the command exited 0.
    public var succeeded: Bool { self.exitStatus == 0 }
}

/// Runs commands on an instance that executes them in this process (the simulated cloud's instances).
public struct InProcessWorkerExecutor: WorkerExecutor {
    private let target: any InProcessExecutable

    public init(_ target: any InProcessExecutable) {
        self.target = target
    }

    public func execute(
        environment: [String: String],
        command: String,
        stdin: [UInt8]
    ) async throws -> WorkerCommandResult {
        let result = try await self.target.execute(environment: environment, command: command, stdin: stdin)
        return WorkerCommandResult(stdout: result.stdout, stderr: result.stderr, exitStatus: result.exitStatus)
    }

    public func close() async {}
}
