import CloudDriver
import NIOSSH
import RemoteExecution
import SSHExecutor
import WorkerPool

/// An instance as the SSH executor sees it: its address and user, and how its host key is trusted.
///
/// The driver is asked first; when it cannot tell, the instance must prove itself by reading back the
/// `InstanceSecret` the pool tagged it with (reference §7).
struct InstanceExecutorTarget: ExecutorTarget {
    let instance: any CloudInstance
    let verifier: InstanceSecretVerifier?

    var address: String { self.instance.address }
    var remoteUser: String { self.instance.remoteUser }

    func verifyHostKey(_ hostKey: HostKey, over connection: some CommandRunner) async throws {
        if try await self.instance.verifyHostKey(hostKey.openSSHString) == .verified { return }
        guard let verifier = self.verifier else {
            throw RemoteExecutionError(
                code: .hostKeyRejected,
                message: "instance \(self.instance.id) has no InstanceSecret tag to verify its host key with"
            )
        }
        try await verifier.verify(over: connection)
    }
}

/// Runs a worker's commands over SSH: the pool's ``WorkerExecutor`` for instances on a real (or loopback)
/// network.
struct SSHWorkerExecutor: WorkerExecutor {
    private let executor: SSHExecutor<InstanceExecutorTarget>
    private let secretTag: String

    init(
        instance: any CloudInstance,
        secretTag: String,
        privateKey: NIOSSHPrivateKey,
        dialPolicy: DialPolicy,
        port: Int
    ) {
        self.secretTag = secretTag
        var configuration = SSHExecutor<InstanceExecutorTarget>.Configuration()
        configuration.defaultPort = port
        configuration.connectTimeout = .seconds(20)
        configuration.authTimeout = .seconds(20)
        self.executor = SSHExecutor(
            target: Self.target(instance, secretTag: secretTag),
            privateKey: privateKey,
            dialPolicy: dialPolicy,
            configuration: configuration
        )
    }

    private static func target(_ instance: any CloudInstance, secretTag: String) -> InstanceExecutorTarget {
        InstanceExecutorTarget(
            instance: instance,
            verifier: instance.tags[secretTag].map {
                InstanceSecretVerifier(expected: InstanceSecret(rawValue: $0), remoteUser: instance.remoteUser)
            }
        )
    }

    func execute(environment: [String: String], command: String, stdin: [UInt8]) async throws -> WorkerCommandResult {
        let result = try await self.executor.execute(env: environment, command: command, stdin: stdin)
        return WorkerCommandResult(
            stdout: result.stdout,
            stderr: result.stderr,
            exitStatus: Int32(clamping: result.exitStatus ?? 255)
        )
    }

    func setTarget(_ instance: any CloudInstance) async {
        await self.executor.setTarget(Self.target(instance, secretTag: self.secretTag))
    }

    func close() async {
        await self.executor.close()
    }
}
