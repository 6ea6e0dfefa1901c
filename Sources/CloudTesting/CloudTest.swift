public import CloudDriver
public import DispatchModel
import Foundation
public import NIOSSH
public import RemoteExecution
import SSHExecutor
import Synchronization

/// The steps of `dispatch-cloud cloudtest`, run against one instance set.
///
/// Creates one instance and takes it through its life — listed with its tags, reachable over the executor
/// with its host verified, boot probe, new tags, destroy, gone — writing each step to its ``Console`` with ✔
/// or ✘ and its duration as it ends. ``run(_:)`` returns whether every step passed, after destroying what it
/// created when one did not.
public struct CloudTest: Sendable {
    /// What to create and how long to wait, from the configuration and the options.
    public struct Plan: Sendable {
        /// `CloudVMs.Driver`: the driver's name, as the run reports it.
        public var driver: String
        /// The type of the test instance (`--instance-type`, else the cheapest configured).
        public var instanceType: InstanceType
        /// The image of the test instance (`--image-id`, else `CloudVMs.ImageID`).
        public var imageID: ImageID
        /// The `InstanceSetID` tag of the test instance (`--instance-set-id`).
        public var instanceSetID: String
        /// `CloudVMs.TagKeyPrefix`.
        public var tagKeyPrefix: String
        /// `CloudVMs.ResourceTags`, added to the instance's own tags.
        public var resourceTags: [String: String]
        /// `CloudVMs.InstanceInitCommand`, run after the instance secret is written.
        public var instanceInitCommand: String
        /// `CloudVMs.DeployPublicKey`: whether the key's public half goes to the create call.
        public var deployPublicKey: Bool
        /// `CloudVMs.BootProbeCommand` (`true` when empty).
        public var bootProbeCommand: String
        /// `CloudVMs.SSHPort`: the port dialled when an address has none.
        public var sshPort: Int
        /// `CloudVMs.TimeoutBooting`: how long any step that waits for the instance may wait.
        public var timeoutBooting: Duration
        /// `CloudVMs.ProbeInterval`: the pause between boot probes.
        public var probeInterval: Duration
        /// `CloudVMs.SyncInterval`: the pause between lists while waiting for the instance to be gone.
        public var syncInterval: Duration
        /// The dispatcher's key; `nil` when the driver's instances run commands in memory.
        public var privateKey: NIOSSHPrivateKey?
        /// Said once before the steps, such as where the key came from.
        public var keyNote: String?
        /// `--destroy-existing`: destroy instances left with the test's instance set ID instead of failing.
        public var destroyExisting: Bool
        /// `-command`: a shell command to run on the booted instance, its output shown.
        public var shellCommand: String?
        /// `-pause-before-destroy`: wait for Enter on standard input before destroying the instance.
        public var pauseBeforeDestroy = false
        /// Check the API only: skip connecting to the instance and the boot probe.
        public var apiOnly = false
        /// Which addresses SSH may dial.
        public var dialPolicy = DialPolicy.loopbackOnly
    }

    public let plan: Plan
    private let console: Console
    private let report: StepReport
    private let clock = ContinuousClock()

    /// A run of `plan` that writes its lines to `console`.
    public init(plan: Plan, console: Console = .standard) {
        self.plan = plan
        self.console = console
        self.report = StepReport(console: console)
    }

    private func say(_ line: String) { self.console.say(line) }

    /// Runs every step against the driver's instance set and stops the set; returns whether all passed.
    public func run(_ product: Driver.Product) async -> Bool {
        self.say(
            "cloudtest: driver \(self.plan.driver), instance type \(self.plan.instanceType.name) "
                + "(\(self.plan.instanceType.providerType)), image \(self.plan.imageID), "
                + "instance set ID \(self.plan.instanceSetID)"
        )
        if let note = self.plan.keyNote { self.say("note: \(note)") }
        let background = product.run.map { run in Task { try? await run() } }
        let passed = await self.run(on: product.instanceSet, access: product.access)
        await product.instanceSet.stop()
        background?.cancel()
        let total = self.report.elapsed
        if passed {
            self.say("cloudtest: PASS — all \(self.report.passed) steps passed in \(StepReport.format(total))")
        } else {
            self.say(
                "cloudtest: FAIL — \(self.report.failed) of \(self.report.passed + self.report.failed) steps failed"
            )
        }
        return passed
    }

    private var setTag: String { self.plan.tagKeyPrefix + "InstanceSetID" }

    private func run<S: InstanceSet>(on set: S, access: InstanceAccess) async -> Bool {
        let ours: InstanceTags = [self.setTag: self.plan.instanceSetID]

        let existingCleared: Bool = await self.report.step("check for leftover instances") {
            () async throws -> String in
            let leftovers = try await Self.listed(set, tagged: ours)
            guard !leftovers.isEmpty else { return "none carry \(self.setTag)=\(self.plan.instanceSetID)" }
            guard self.plan.destroyExisting else {
                throw CloudTestFailure(
                    "\(leftovers.count) instance(s) already carry \(self.setTag)=\(self.plan.instanceSetID) "
                        + "(\(leftovers.map(\.id.rawValue).joined(separator: ", "))); rerun with --destroy-existing"
                )
            }
            for instance in leftovers { try await instance.destroy() }
            return "destroyed \(leftovers.count) leftover instance(s)"
        }
        guard existingCleared else { return false }

        let secret = InstanceSecret.generate()
        let prefix = self.plan.tagKeyPrefix
        let tags = self.plan.resourceTags.merging(
            [
                prefix + "InstanceSetID": self.plan.instanceSetID,
                prefix + "InstanceType": self.plan.instanceType.name.rawValue,
                prefix + "IdleBehavior": IdleBehavior.run.rawValue,
                prefix + "InstanceSecret": secret.rawValue,
                prefix + "CloudTestPID": String(ProcessInfo.processInfo.processIdentifier),
            ]
        ) { _, ours in ours }
        let publicKey =
            self.plan.deployPublicKey ? self.plan.privateKey.map { OpenSSHPrivateKey.authorizedKeysLine(for: $0) } : nil

        let created = await self.report.step("create instance") { () async throws -> (S.Instance, String) in
            let instance = try await set.create(
                type: self.plan.instanceType,
                imageID: self.plan.imageID,
                tags: tags,
                initCommand: secret.bootScript(instanceInitCommand: self.plan.instanceInitCommand),
                publicKey: publicKey
            )
            return (instance, "\(instance.id) (\(instance.providerType))")
        }
        guard let created else { return false }

        let passed = await self.exercise(set, access: access, created: created, tags: tags, secret: secret)
        if !passed {
            await self.report.step("destroy instance (cleanup)") { () async throws -> String in
                try await created.destroy()
                return "\(created.id)"
            }
        }
        return passed
    }

    /// The steps between create and gone; returns false at the first failure (the caller cleans up).
    private func exercise<S: InstanceSet>(
        _ set: S,
        access: InstanceAccess,
        created: S.Instance,
        tags: InstanceTags,
        secret: InstanceSecret
    ) async -> Bool {
        let ours: InstanceTags = [self.setTag: self.plan.instanceSetID]
        let listPoll = min(self.plan.probeInterval, .seconds(1))

        let listed = await self.report.step("listed with its tags") { () async throws -> (S.Instance, String) in
            let instance = try await self.poll(every: listPoll, until: "the instance is listed") {
                () async throws -> S.Instance? in
                try await Self.listed(set, tagged: ours).first { $0.id == created.id }
            }
            try Self.checkTags(tags, listed: instance.tags)
            return (instance, "all \(tags.count) tags round-trip")
        }
        guard let listed else { return false }

        let connected: Connection
        if self.plan.apiOnly {
            self.say(
                "note: API only: not connecting to \(listed.id) (\(listed.address.isEmpty ? "no address" : listed.address))"
            )
            connected = Connection(runner: APIOnlyExecutor(), closer: {})
        } else {
            let reachable = await self.report.step("reachable, host verified") {
                () async throws -> (Connection, String) in
                try await self.connect(set, access: access, listed: listed, secret: secret)
            }
            guard let reachable else { return false }
            connected = reachable
        }

        let booted: Bool = await self.bootProbe(connected)
        guard booted else {
            await connected.close()
            return false
        }

        var retagged = tags
        retagged[self.plan.tagKeyPrefix + "IdleBehavior"] = IdleBehavior.hold.rawValue
        retagged[self.plan.tagKeyPrefix + "CloudTestTagged"] = InstanceSecret.generate().rawValue.prefix(8).description
        let tagged: Bool = await self.report.step("set tags") { () async throws -> String in
            try await listed.setTags(retagged)
            let instance = try await self.poll(every: listPoll, until: "the new tags are listed") {
                () async throws -> S.Instance? in
                let found = try await Self.listed(set, tagged: ours).first { $0.id == created.id }
                guard let found, (try? Self.checkTags(retagged, listed: found.tags)) != nil else { return nil }
                return found
            }
            try Self.checkTags(retagged, listed: instance.tags)
            return "IdleBehavior=hold and a new tag are listed"
        }
        guard tagged else {
            await connected.close()
            return false
        }

        let commanded = await self.runShellCommand(connected)
        await connected.close()
        guard commanded else { return false }
        if self.plan.pauseBeforeDestroy { self.console.waitForEnter() }
        let destroyed: Bool = await self.report.step("destroy instance") { () async throws -> String in
            try await listed.destroy()
            return "\(created.id)"
        }
        guard destroyed else { return false }

        let gone: Bool = await self.report.step("gone from the list") { () async throws -> String in
            _ = try await self.poll(every: min(self.plan.syncInterval, .seconds(1)), until: "the instance is gone") {
                () async throws -> Bool? in
                try await Self.listed(set, tagged: ours).contains { $0.id == created.id } ? nil : true
            }
            return "no longer listed"
        }
        return gone
    }

    /// The `-command` step, as Arvados's `cloudtest`: the command's output is shown and a non-zero exit fails
    /// the run. Not run (with a note) when the run checks the API only.
    private func runShellCommand(_ connected: Connection) async -> Bool {
        guard let command = self.plan.shellCommand else { return true }
        if self.plan.apiOnly {
            self.say("note: API only: -command \(ShellQuote.quote(command)) not run")
            return true
        }
        return await self.report.step("run -command") { () async throws -> String in
            let result = try await connected.runner.execute(command)
            self.say("-command \(ShellQuote.quote(command)) stdout:")
            self.say(String(decoding: result.stdout, as: UTF8.self))
            self.say("-command stderr:")
            self.say(String(decoding: result.stderr, as: UTF8.self))
            guard result.succeeded else {
                throw CloudTestFailure(
                    "exited with \(result.exitStatus.map { "status \($0)" } ?? "signal \(result.exitSignal ?? "?")")"
                )
            }
            return "exited 0"
        }
    }

    /// The boot probe step; passes without running when the run checks the API only.
    private func bootProbe(_ connected: Connection) async -> Bool {
        if self.plan.apiOnly { return true }
        return await self.report.step("boot probe") { () async throws -> String in
            var attempts = 0
            var last = CommandResult()
            _ = try await self.poll(every: self.plan.probeInterval, until: "the boot probe succeeds") {
                () async throws -> Bool? in
                attempts += 1
                last = try await connected.runner.execute(self.plan.bootProbeCommand)
                return last.succeeded ? true : nil
            }
            _ = last
            return "\(ShellQuote.quote(self.plan.bootProbeCommand)) exited 0 after \(attempts) attempt(s)"
        }
    }

    /// How the run reaches the instance: over SSH, or in memory for the simulated driver.
    struct Connection: Sendable {
        var runner: any RemoteExecutor
        var closer: @Sendable () async -> Void

        func close() async { await self.closer() }
    }

    private func connect<S: InstanceSet>(
        _ set: S,
        access: InstanceAccess,
        listed: S.Instance,
        secret: InstanceSecret
    ) async throws -> (Connection, String) {
        let ours: InstanceTags = [self.setTag: self.plan.instanceSetID]
        let secretPath = listed.instanceSecretPath
        let verifier = InstanceSecretVerifier(expected: secret, remoteUser: listed.remoteUser, secretPath: secretPath)

        if case .inProcess(let executor) = access {
            let runner = executor(listed.id)
            _ = try await self.poll(every: self.plan.probeInterval, until: "the instance secret reads back") {
                () async throws -> Bool? in
                (try? await verifier.verify(over: runner)) != nil ? true : nil
            }
            return (
                Connection(runner: runner, closer: {}),
                "in memory (no SSH); instance secret read back from \(secretPath)"
            )
        }

        guard let key = self.plan.privateKey else { throw CloudTestFailure("no SSH key to connect with") }
        let verification = HostVerificationLog()
        var configuration = SSHExecutor<CloudTestTarget<S.Instance>>.Configuration()
        configuration.defaultPort = self.plan.sshPort
        configuration.connectTimeout = .seconds(10)
        configuration.authTimeout = .seconds(10)
        let executor = SSHExecutor(
            target: CloudTestTarget(instance: listed, verifier: verifier, log: verification),
            privateKey: key,
            dialPolicy: self.plan.dialPolicy,
            configuration: configuration
        )
        var lastError: (any Error)?
        var address = ""
        do {
            _ = try await self.poll(every: self.plan.probeInterval, until: "the instance answers over SSH") {
                () async throws -> Bool? in
                guard let fresh = try await Self.listed(set, tagged: ours).first(where: { $0.id == listed.id }),
                    !fresh.address.isEmpty
                else { return nil }
                address = fresh.address
                await executor.setTarget(CloudTestTarget(instance: fresh, verifier: verifier, log: verification))
                do {
                    let result = try await executor.execute("true")
                    return result.succeeded ? true : nil
                } catch let error as RemoteExecutionError where error.code == .addressNotAllowed {
                    throw error
                } catch {
                    lastError = error
                    return nil
                }
            }
        } catch {
            await executor.close()
            if let lastError { throw CloudTestFailure("\(error) (last error: \(lastError))") }
            throw error
        }
        let how = verification.summary ?? "host verified"
        return (
            Connection(runner: executor, closer: { await executor.close() }),
            "\(address) as \(listed.remoteUser); \(how)"
        )
    }

    /// Calls `attempt` every `interval` until it returns a value; throws once `TimeoutBooting` has passed.
    private func poll<T>(
        every interval: Duration,
        until what: String,
        _ attempt: () async throws -> T?
    ) async throws -> T {
        let deadline = self.clock.now.advanced(by: self.plan.timeoutBooting)
        while true {
            if let value = try await attempt() { return value }
            guard self.clock.now.advanced(by: interval) < deadline else {
                throw CloudTestFailure(
                    "timed out after \(self.plan.timeoutBooting) (TimeoutBooting) waiting until \(what)"
                )
            }
            try await self.clock.sleep(for: interval)
        }
    }

    /// The instances carrying every tag in `tags` (drivers may return more than asked for).
    private static func listed<S: InstanceSet>(_ set: S, tagged tags: InstanceTags) async throws -> [S.Instance] {
        try await set.instances(tagged: tags).filter { $0.tags.carriesEvery(tags) }
    }

    /// Throws unless every tag in `expected` is listed with the same value.
    private static func checkTags(_ expected: InstanceTags, listed: InstanceTags) throws {
        let wrong = expected.keys.sorted().filter { listed[$0] != expected[$0] }
        guard wrong.isEmpty else {
            throw CloudTestFailure("tags missing or different in the listing: \(wrong.joined(separator: ", "))")
        }
    }
}

/// A step failed for the reason given.
struct CloudTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The executor of an API-only run, which never connects to the instance: every command fails.
struct APIOnlyExecutor: RemoteExecutor {
    func execute(environment: [String: String], command: String, stdin: [UInt8]) async throws -> CommandResult {
        throw CloudTestFailure("API only: not connecting to the instance")
    }
}

/// The executor's target: the driver checks the host key first, then the instance secret is read back.
struct CloudTestTarget<Instance: CloudInstance>: ExecutorTarget {
    let instance: Instance
    let verifier: InstanceSecretVerifier
    let log: HostVerificationLog

    var address: String { self.instance.address }
    var remoteUser: String { self.instance.remoteUser }

    func verifyHostKey(_ hostKey: HostKey, over connection: some RemoteExecutor) async throws {
        let verdict = try await self.instance.verifyHostKey(hostKey.openSSHString)
        // Read the secret back even when the driver vouched for the key: it checks the init command ran.
        try await self.verifier.verify(over: connection)
        let driverSays = verdict == .verified ? "host key verified by the driver" : "driver defers to the secret"
        self.log.record("\(hostKey.algorithm) key; \(driverSays); instance secret read back")
    }
}

/// How the host was verified, for the step's report.
final class HostVerificationLog: Sendable {
    private let storage = Mutex<String?>(nil)

    func record(_ summary: String) { self.storage.withLock { $0 = summary } }
    var summary: String? { self.storage.withLock { $0 } }
}
