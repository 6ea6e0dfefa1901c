public import CloudDriver
import Crypto
public import DispatchModel
import Foundation
public import Logging
import NIOSSH
import SSHServer

/// This host as a cloud: each instance is an in-process SSH server on 127.0.0.1 (the `loopback` driver).
///
/// Unlike Arvados's single-instance loopback, it runs up to ``LoopbackParameters/maxInstances`` instances,
/// each with its own Ed25519 host key and its own state directory `<data>/instances/<id>/` holding the
/// runner's lock directory (every command an instance runs gets `DISPATCH_RUNNER_LOCK_DIR`, so
/// `dispatch-runner --list` on one instance shows only that instance's containers), a work directory (the
/// commands' working directory) and the instance secret. A leading `sudo ` is stripped from commands.
///
/// Instance records (ID, tags, host key, authorized keys) persist as JSON under the data directory. A new
/// cloud over the same directory lists the same instances again and restarts their SSH servers (on new
/// ports: the address is part of each listing), so runners that kept running are found by `--list`.
///
/// Time (``LoopbackParameters/bootTime``) comes from the clock `C`.
public actor LoopbackCloud<C: Clock>: InstanceSet where C.Duration == Duration {
    public typealias Instance = LoopbackInstance<C>

    /// The behaviour of the cloud.
    public nonisolated let parameters: LoopbackParameters
    /// The directory holding the instances.
    public nonisolated let dataDirectory: String
    /// The user commands run as, reported as every instance's `remoteUser`.
    public nonisolated let remoteUser: String

    private struct Live {
        var record: InstanceRecord
        var server: SSHServer?
        /// When the instance's SSH server may start; `nil` once booted (and for recorded instances).
        var bootsAt: C.Instant?
        /// Set by `destroy` while it runs, so concurrent calls do not start the server again.
        var destroying = false
    }

    private let clock: C
    private let logger: Logger
    private var instances: [InstanceID: Live] = [:]
    /// Creates between their quota check and their record being added.
    private var reservedCreates = 0
    private var stopped = false

    /// Opens (creating if needed) the cloud whose instances live under `dataDirectory`, loading the
    /// instances recorded there; their SSH servers start with the first call.
    ///
    /// An instance's SSH server starts when a call finds its boot time over: at create when
    /// ``LoopbackParameters/bootTime`` is zero, else at the first list after it (the listing is where a
    /// cloud reports an instance's address).
    public init(
        parameters: LoopbackParameters,
        dataDirectory: String,
        clock: C,
        logger: Logger
    ) throws(CloudError) {
        // Standardized (no `//`, `.` or `..`), so the paths given to commands are the ones they see.
        let dataDirectory = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        self.parameters = parameters
        self.dataDirectory = dataDirectory
        self.clock = clock
        self.logger = logger
        self.remoteUser = Self.currentUserName()
        do {
            try InstanceStore.makeDirectory(InstanceStore.instancesDirectory(dataDirectory))
        } catch {
            throw .other("cannot create the loopback data directory \(dataDirectory)", cause: error)
        }
        for name in InstanceStore.removeInterruptedCreates(dataDirectory) {
            logger.info(
                "Removed a loopback instance whose creation was interrupted (no record)",
                metadata: ["instance.id": "\(name)"]
            )
        }
        var loaded: [InstanceID: Live] = [:]
        for result in InstanceStore.readAll(dataDirectory) {
            switch result {
            case .success(let record):
                loaded[record.id] = Live(record: record)
            case .failure(let error):
                logger.warning(
                    "Skipped an unreadable loopback instance record",
                    metadata: ["loopback.error": "\(error)"]
                )
            }
        }
        self.instances = loaded
        logger.debug(
            "Opened the loopback cloud",
            metadata: ["loopback.dataDirectory": "\(dataDirectory)", "loopback.instances": "\(loaded.count)"]
        )
    }

    /// The number of instances, booting ones included.
    public var instanceCount: Int { self.instances.count }

    // MARK: InstanceSet

    public func create(
        type: InstanceType,
        imageID: ImageID,
        tags: InstanceTags,
        initCommand: String,
        publicKey: String?
    ) async throws(CloudError) -> Instance {
        try self.checkRunning()
        await self.startDueServers()
        guard self.instances.count + self.reservedCreates < self.parameters.maxInstances else {
            throw .quotaExceeded(
                "the loopback cloud is at its quota of \(self.parameters.maxInstances) instances (MaxInstances)"
            )
        }
        self.reservedCreates += 1
        defer { self.reservedCreates -= 1 }

        var authorizedKeys: [String] = []
        if let publicKey {
            guard (try? NIOSSHPublicKey(openSSHPublicKey: Self.keyFields(publicKey))) != nil else {
                throw .other("the public key to authorize is not an OpenSSH public key this server accepts")
            }
            authorizedKeys.append(Self.keyFields(publicKey))
        }
        let id = InstanceID(rawValue: "lb-" + Self.randomHex(bytes: 6))
        let record = InstanceRecord(
            id: id,
            providerType: type.providerType,
            tags: tags,
            hostKey: Curve25519.Signing.PrivateKey().rawRepresentation.base64EncodedString(),
            authorizedKeys: authorizedKeys,
            createdAt: Date().timeIntervalSince1970
        )
        let layout = InstanceLayout(dataDirectory: self.dataDirectory, id: id)
        do {
            try InstanceStore.makeStateDirectories(layout)
            try InstanceStore.write(record, to: layout)
        } catch {
            try? InstanceStore.remove(layout)
            throw .other("cannot record loopback instance \(id)", cause: error)
        }
        // The boot script: run now through the instance's own shell, so it writes the secret into the
        // instance's state directory.
        if !initCommand.isEmpty {
            let shell = LoopbackShell(layout: layout, instanceID: id.rawValue)
            let outcome: (status: Int32, stderr: String)
            do {
                outcome = try await shell.run(initCommand)
            } catch {
                try? InstanceStore.remove(layout)
                throw .other("cannot run the init command of loopback instance \(id)", cause: error)
            }
            guard outcome.status == 0 else {
                try? InstanceStore.remove(layout)
                throw .other(
                    "the init command of loopback instance \(id) exited with status \(outcome.status): "
                        + outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
                )
            }
        }
        if self.parameters.bootTime > .zero {
            self.instances[id] = Live(record: record, bootsAt: self.clock.now.advanced(by: self.parameters.bootTime))
        } else {
            self.instances[id] = Live(record: record)
            do throws(CloudError) {
                try await self.startServer(id)
            } catch {
                self.instances[id] = nil
                try? InstanceStore.remove(layout)
                throw error
            }
        }
        self.logger.info(
            "Created a loopback instance",
            metadata: ["instance.id": "\(id)", "instance.providerType": "\(type.providerType)"]
        )
        return try self.snapshot(id)
    }

    public func instances(tagged tags: InstanceTags) async throws(CloudError) -> [Instance] {
        try self.checkRunning()
        await self.startDueServers()
        return self.instances.keys.sorted().compactMap { id in
            guard let live = self.instances[id], tags.allSatisfy({ live.record.tags[$0.key] == $0.value }) else {
                return nil
            }
            return try? self.snapshot(id)
        }
    }

    public nonisolated func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup {
        // One host, one quota.
        InstanceQuotaGroup(rawValue: "loopback")
    }

    /// Stops every SSH server; the instances stay recorded, and their runners keep running.
    public func stop() async {
        self.stopped = true
        let live = Array(self.instances.values)
        for instance in live {
            await instance.server?.stop()
        }
        for id in self.instances.keys {
            self.instances[id]?.server = nil
        }
    }

    // MARK: Instance operations

    func setTags(_ tags: InstanceTags, on id: InstanceID) throws(CloudError) {
        try self.checkRunning()
        guard var live = self.instances[id], !live.destroying else {
            throw .notFound("loopback instance \(id) does not exist")
        }
        live.record.tags = tags
        do {
            try InstanceStore.write(live.record, to: InstanceLayout(dataDirectory: self.dataDirectory, id: id))
        } catch {
            throw .other("cannot record the tags of loopback instance \(id)", cause: error)
        }
        self.instances[id] = live
    }

    func destroy(_ id: InstanceID) async throws(CloudError) {
        try self.checkRunning()
        guard let live = self.instances[id], !live.destroying else {
            throw .notFound("loopback instance \(id) does not exist")
        }
        self.instances[id]?.destroying = true
        await live.server?.stop()
        let layout = InstanceLayout(dataDirectory: self.dataDirectory, id: id)
        let signalled = RunnerLocks(directory: layout.lockDirectory).terminateAll()
        do {
            try InstanceStore.remove(layout)
        } catch {
            self.instances[id]?.destroying = false
            throw .other("cannot remove the state of loopback instance \(id)", cause: error)
        }
        self.instances[id] = nil
        self.logger.info(
            "Destroyed a loopback instance",
            metadata: ["instance.id": "\(id)", "instance.runnersSignalled": "\(signalled.count)"]
        )
    }

    // MARK: Internals

    private func checkRunning() throws(CloudError) {
        guard !self.stopped else { throw .other("the loopback cloud has been stopped") }
    }

    /// Starts the SSH servers that should run and do not: instances whose boot time is over, and those
    /// recorded before this cloud was opened (or whose server failed to start before).
    private func startDueServers() async {
        let now = self.clock.now
        let due = self.instances.filter { _, live in
            live.server == nil && !live.destroying && live.bootsAt.map { $0 <= now } ?? true
        }
        for id in due.keys.sorted() {
            do throws(CloudError) {
                try await self.startServer(id)
            } catch {
                self.logger.warning(
                    "Could not start the SSH server of a loopback instance",
                    metadata: ["instance.id": "\(id)", "loopback.error": "\(error)"]
                )
            }
        }
    }

    /// Starts the instance's SSH server unless it runs already, the instance is gone, or the cloud stopped.
    private func startServer(_ id: InstanceID) async throws(CloudError) {
        guard let live = self.instances[id], live.server == nil, !live.destroying, !self.stopped else { return }
        let layout = InstanceLayout(dataDirectory: self.dataDirectory, id: id)
        let configuration: SSHServer.Configuration
        do {
            configuration = try Self.serverConfiguration(for: live.record, layout: layout)
        } catch {
            throw .other("cannot configure the SSH server of loopback instance \(id)", cause: error)
        }
        let server: SSHServer
        do {
            server = try await SSHServer.start(configuration: configuration)
        } catch {
            throw .other("cannot start the SSH server of loopback instance \(id)", cause: error)
        }
        // The instance may have been destroyed, or the cloud stopped, while the server started.
        guard self.instances[id] != nil, self.instances[id]?.destroying == false, !self.stopped else {
            await server.stop()
            return
        }
        self.instances[id]?.server = server
        self.instances[id]?.bootsAt = nil
    }

    private static func serverConfiguration(
        for record: InstanceRecord,
        layout: InstanceLayout
    ) throws -> SSHServer.Configuration {
        guard let seed = Data(base64Encoded: record.hostKey) else {
            throw StoreError("the recorded host key is not base64")
        }
        let hostKey = NIOSSHPrivateKey(ed25519Key: try Curve25519.Signing.PrivateKey(rawRepresentation: seed))
        let authorized = record.authorizedKeys.compactMap { try? NIOSSHPublicKey(openSSHPublicKey: $0) }
        // Commands that run between a restart and a state directory being recreated must not fail.
        try InstanceStore.makeStateDirectories(layout)
        let shell = LoopbackShell(layout: layout, instanceID: record.id.rawValue)
        var configuration = SSHServer.Configuration(hostKey: hostKey, authorizedKeys: authorized)
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.environment = shell.environment
        configuration.workingDirectory = layout.workDirectory
        configuration.commandFilter = { shell.filter($0) }
        return configuration
    }

    private func snapshot(_ id: InstanceID) throws(CloudError) -> Instance {
        guard let live = self.instances[id] else { throw .notFound("loopback instance \(id) does not exist") }
        let layout = InstanceLayout(dataDirectory: self.dataDirectory, id: id)
        return LoopbackInstance(
            cloud: self,
            id: id,
            address: live.server.map { "127.0.0.1:\($0.port)" } ?? "",
            remoteUser: self.remoteUser,
            providerType: live.record.providerType,
            tags: live.record.tags,
            hostPublicKey: Self.hostPublicKey(of: live.record),
            stateDirectory: layout.stateDirectory,
            lockDirectory: layout.lockDirectory,
            instanceSecretPath: layout.secretFile
        )
    }

    /// The record's host key in OpenSSH form, or the empty string if the record holds no valid key.
    private static func hostPublicKey(of record: InstanceRecord) -> String {
        guard let seed = Data(base64Encoded: record.hostKey),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        else { return "" }
        return String(openSSHPublicKey: NIOSSHPrivateKey(ed25519Key: key).publicKey)
    }

    /// `"<algorithm> <base64>"` of an OpenSSH public key line, without its comment.
    static func keyFields(_ line: String) -> String {
        line.split(separator: " ", omittingEmptySubsequences: true).prefix(2).joined(separator: " ")
    }

    private static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) }.lowercaseHex
    }

    private static func currentUserName() -> String {
        NSUserName()
    }
}

extension LoopbackCloud where C == ContinuousClock {
    /// Opens the cloud on the real clock.
    public init(parameters: LoopbackParameters, dataDirectory: String, logger: Logger) throws(CloudError) {
        try self.init(parameters: parameters, dataDirectory: dataDirectory, clock: ContinuousClock(), logger: logger)
    }
}
