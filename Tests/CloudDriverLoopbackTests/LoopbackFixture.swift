import CloudDriver
import CloudDriverLoopback
import Crypto
import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import NIOSSH
import RemoteExecution
import SSHExecutor

/// A loopback cloud in a fresh data directory, with a dispatcher key and helpers to reach its instances.
struct LoopbackFixture {
    let directory: TemporaryDirectory
    let clientKey = NIOSSHPrivateKey(ed25519Key: Curve25519.Signing.PrivateKey())
    let type = InstanceType(name: InstanceTypeName(rawValue: "small"), vcpus: 1, ram: .giB(1), price: 0.01)
    var parameters = LoopbackParameters()

    init(maxInstances: Int = 4) throws {
        self.directory = try TemporaryDirectory(prefix: "loopback-test")
        self.parameters.maxInstances = maxInstances
    }

    static let logger: Logger = {
        var logger = Logger(label: "loopback-test")
        logger.logLevel = .warning
        return logger
    }()

    /// A cloud over the fixture's directory (a second call models a dispatcher restart).
    func open() throws -> LoopbackCloud<ContinuousClock> {
        try LoopbackCloud(parameters: self.parameters, dataDirectory: self.directory.path, logger: Self.logger)
    }

    var publicKeyLine: String { OpenSSHPrivateKey.authorizedKeysLine(for: self.clientKey, comment: "dispatcher") }

    /// Creates an instance tagged like the dispatcher's, whose init command writes `secret`.
    func create(
        _ cloud: LoopbackCloud<ContinuousClock>,
        secret: InstanceSecret = .generate(),
        tags extra: InstanceTags = [:]
    ) async throws -> LoopbackInstance<ContinuousClock> {
        try await cloud.create(
            type: self.type,
            imageID: ImageID(rawValue: "loopback"),
            tags: [
                "ArvadosInstanceSetID": "zzzzz-zzzzz-loopbacktest",
                "ArvadosInstanceSecret": secret.rawValue,
            ].merging(extra) { $1 },
            initCommand: secret.bootScript(),
            publicKey: self.publicKeyLine
        )
    }

    /// An executor for `instance` that trusts the host only if the driver and the instance secret both do.
    func executor(
        _ instance: LoopbackInstance<ContinuousClock>,
        key: NIOSSHPrivateKey? = nil
    ) -> SSHExecutor<LoopbackTarget> {
        var configuration = SSHExecutor<LoopbackTarget>.Configuration()
        configuration.connectTimeout = .seconds(10)
        configuration.authTimeout = .seconds(10)
        return SSHExecutor(
            target: LoopbackTarget(instance: instance),
            privateKey: key ?? self.clientKey,
            dialPolicy: .loopbackOnly,
            configuration: configuration
        )
    }

    /// Runs one command on `instance` over a fresh connection.
    func run(_ command: String, on instance: LoopbackInstance<ContinuousClock>) async throws -> CommandResult {
        let executor = self.executor(instance)
        do {
            let result = try await executor.execute(command)
            await executor.close()
            return result
        } catch {
            await executor.close()
            throw error
        }
    }

    func tearDown(_ clouds: LoopbackCloud<ContinuousClock>...) async {
        for cloud in clouds { await cloud.stop() }
        self.directory.remove()
    }
}

/// A loopback instance as an executor target: the driver checks the key, then the secret is read back.
struct LoopbackTarget: ExecutorTarget {
    let instance: LoopbackInstance<ContinuousClock>

    var address: String { self.instance.address }
    var remoteUser: String { self.instance.remoteUser }

    func verifyHostKey(_ hostKey: HostKey, over connection: some RemoteExecutor) async throws {
        guard try await self.instance.verifyHostKey(hostKey.openSSHString) == .verified else {
            throw RemoteExecutionError(code: .hostKeyRejected, message: "the driver did not verify the key")
        }
        let secret = InstanceSecret(rawValue: self.instance.tags["ArvadosInstanceSecret"] ?? "")
        try await InstanceSecretVerifier(
            expected: secret,
            remoteUser: self.instance.remoteUser,
            secretPath: self.instance.instanceSecretPath
        ).verify(over: connection)
    }
}

/// Holds the lock file of `uuid` in `lockDirectory` as a detached runner would, recording `pid`.
final class HeldRunnerLock {
    private let fd: Int32

    init(uuid: String, in lockDirectory: String, pid: Int32) throws {
        let path = "\(lockDirectory)/crunch-run-\(uuid).lock"
        self.fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard self.fd >= 0, flock(self.fd, LOCK_EX | LOCK_NB) == 0 else {
            throw TestSupportError("cannot hold \(path)")
        }
        let line = "{\"UUID\":\"\(uuid)\",\"PID\":\(pid)}\n"
        _ = line.withCString { pwrite(self.fd, $0, strlen($0), 0) }
    }

    func release() {
        close(self.fd)
    }
}
