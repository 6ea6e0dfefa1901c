import CloudDriver
import CoreMetrics
public import DispatchModel
import Foundation
import Logging
import RemoteExecution

extension WorkerPool {
    /// Starts `container` on the idle worker of type `type` that was busy most recently; `false` when no
    /// such worker accepts containers.
    public func startContainer(_ container: Container, type: InstanceTypeName) -> Bool {
        let candidates = self.workers.filter { _, worker in
            worker.type.name == type && worker.machine.state == .idle && worker.machine.idleBehavior == .run
        }
        let chosen = candidates.max { lhs, rhs in
            lhs.value.machine.busy != rhs.value.machine.busy
                ? lhs.value.machine.busy < rhs.value.machine.busy : lhs.key > rhs.key
        }
        guard let id = chosen?.key else { return false }
        return self.startContainer(container, on: id)
    }

    /// Starts `container` on worker `id` (idle or running, behaviour `run`); `false` when it cannot take it.
    public func startContainer(_ container: Container, on id: InstanceID) -> Bool {
        let now = self.now
        guard let actions = self.withMachine(id, { $0.startContainer(container.uuid, at: now) }) ?? nil else {
            return false
        }
        self.startingContainers[container.uuid] = container
        self.logger.info(
            "Container starting",
            metadata: ["instance.id": "\(id)", "container.uuid": "\(container.uuid)"]
        )
        self.perform(actions, on: id)
        return true
    }

    /// Starts stopping a container's runner: SIGTERM now and every `TimeoutSignal` until it is gone, giving
    /// up (and draining the worker) after `TimeoutTERM`. `false` when no worker has the container.
    @discardableResult
    public func killContainer(_ uuid: ContainerUUID, reason: String) -> Bool {
        guard let id = self.worker(running: uuid) else {
            self.logger.debug("Kill requested for a container on no worker", metadata: ["container.uuid": "\(uuid)"])
            return false
        }
        let now = self.now
        let actions = self.withMachine(id) { $0.killContainer(uuid, reason: reason, at: now) } ?? []
        // A kill already in progress ignores the request: the scheduler repeats it on every pass.
        guard !actions.isEmpty else { return true }
        self.logger.info(
            "Container kill requested",
            metadata: ["instance.id": "\(id)", "container.uuid": "\(uuid)", "kill.reason": "\(reason)"]
        )
        self.perform(actions, on: id)
        return true
    }

    /// The container is Complete: its runner finalized it and exits by itself, so it stops counting against its
    /// worker's capacity now, without the `--kill` Arvados sends; a probe confirms it is gone, and one still there
    /// `TimeoutSignal` later is sent SIGTERM (``WorkerStateMachine/runnerFinished(_:at:)``).
    public func containerFinished(_ uuid: ContainerUUID) {
        guard let id = self.worker(running: uuid) else { return }
        let now = self.now
        let actions = self.withMachine(id) { $0.runnerFinished(uuid, at: now) } ?? []
        guard !actions.isEmpty else { return }
        self.logger.debug(
            "Container complete: its runner is finishing",
            metadata: ["instance.id": "\(id)", "container.uuid": "\(uuid)"]
        )
        self.perform(actions, on: id)
    }

    /// Forgets that a container's runner ended (the scheduler has dealt with it).
    public func forgetContainer(_ uuid: ContainerUUID) {
        // The scheduler counts an instance running a container it no longer knows as full: tell it the
        // instance is free now rather than at its next wake-up.
        if self.forgetExited(uuid) { self.notify() }
    }

    // MARK: - Runner commands

    /// Runs `--detach` with the runner configuration on stdin; errors are only logged (the next probe tells
    /// whether the container runs).
    func startRunner(_ uuid: ContainerUUID, on id: InstanceID) {
        guard let worker = self.workers[id] else { return }
        let container = self.startingContainers[uuid]
        let runner: RunnerBinary
        do {
            runner = try self.loadRunnerBinary()
        } catch {
            self.logger.error("Runner binary unreadable: cannot start", metadata: ["error": "\(error)"])
            return
        }
        let commands = worker.commands(runner: runner.command)
        let command = commands.detach(
            uuid,
            runtimeEngine: self.configuration.runtimeEngine,
            arguments: self.configuration.crunchRunArguments
        )
        let stdin = self.runnerConfiguration(uuid, worker: worker)
        let executor = worker.executor
        let logger = self.logger
        self.spawn {
            do {
                let result = try await executor.execute(environment: [:], command: command, stdin: stdin)
                if !result.succeeded {
                    logger.warning(
                        "Runner start failed",
                        metadata: [
                            "instance.id": "\(id)", "container.uuid": "\(uuid)",
                            "command.exitStatus": "\(result.ending)", "command.stderr": "\(result.stderrText)",
                        ]
                    )
                }
            } catch {
                logger.warning(
                    "Runner start failed",
                    metadata: ["instance.id": "\(id)", "container.uuid": "\(uuid)", "error": "\(error)"]
                )
            }
            await self.runnerStarted(uuid, on: id, createdAt: container?.createdAt)
        }
    }

    private func runnerStarted(_ uuid: ContainerUUID, on id: InstanceID, createdAt: Timestamp?) {
        self.startingContainers[uuid] = nil
        let now = self.now
        _ = self.withMachine(id) { $0.runnerStarted(uuid, at: now) }
        if let createdAt {
            let wait = self.wallClock().duration(since: createdAt)
            self.metrics.timeFromQueueToRunner.recordNanoseconds(max(0, wait.nanoseconds))
        }
        self.notify()
    }

    /// Runs `--kill 15`; exit 0 means the runner is gone.
    func sendTerm(_ uuid: ContainerUUID, on id: InstanceID) {
        guard let worker = self.workers[id], let runner = try? self.loadRunnerBinary() else { return }
        let command = worker.commands(runner: runner.command).kill(uuid)
        let executor = worker.executor
        let logger = self.logger
        self.spawn {
            var succeeded = false
            do {
                let result = try await executor.execute(environment: [:], command: command, stdin: [])
                succeeded = result.succeeded
                if !succeeded {
                    logger.info(
                        "Runner still running after SIGTERM",
                        metadata: ["instance.id": "\(id)", "container.uuid": "\(uuid)"]
                    )
                }
            } catch {
                logger.info(
                    "SIGTERM not sent",
                    metadata: ["instance.id": "\(id)", "container.uuid": "\(uuid)", "error": "\(error)"]
                )
            }
            await self.termSent(uuid, on: id, succeeded: succeeded)
        }
    }

    private func termSent(_ uuid: ContainerUUID, on id: InstanceID, succeeded: Bool) {
        let now = self.now
        self.perform(self.withMachine(id) { $0.termSent(uuid, succeeded: succeeded, at: now) } ?? [], on: id)
    }

    /// Calls the machine's kill tick at `deadline`.
    func scheduleKillTick(_ uuid: ContainerUUID, on id: InstanceID, at deadline: PoolInstant) {
        let clock = self.clock
        let deadline = self.clockInstant(deadline)
        self.spawn {
            do {
                try await clock.sleep(until: deadline, tolerance: nil)
            } catch {
                return
            }
            await self.killTick(uuid, on: id)
        }
    }

    private func killTick(_ uuid: ContainerUUID, on id: InstanceID) {
        let now = self.now
        let actions = self.withMachine(id) { $0.killTick(uuid, at: now) } ?? []
        if actions.contains(.saveTags) {
            self.logger.warning(
                "Runner did not stop within TimeoutTERM: draining the worker",
                metadata: ["instance.id": "\(id)", "container.uuid": "\(uuid)"]
            )
        }
        self.perform(actions, on: id)
    }

    /// The runner's `ConfigData` (reference §7.3, Arvados's `runner.go`): its environment, Keep buffers, spot
    /// check and cluster, plus keys `crunch-run` ignores: the locked container record (`Container`) so our
    /// runner need not fetch it before starting the process, `APIScheme` (`http` for a plain-HTTP API) and
    /// `Sandbox`.
    func runnerConfiguration(_ uuid: ContainerUUID, worker: Worker) -> [UInt8] {
        let configuration = self.configuration
        let typeJSON: String
        if let cached = self.runnerTypeJSON[worker.type.name], cached.type == worker.type {
            typeJSON = cached.json
        } else {
            let typeEncoder = JSONEncoder()
            typeEncoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            typeJSON = (try? typeEncoder.encode(worker.type)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            self.runnerTypeJSON[worker.type.name] = (worker.type, typeJSON)
        }
        var environment: [String: String] = [
            "ARVADOS_API_HOST": configuration.apiHost,
            "ARVADOS_API_TOKEN": configuration.systemRootToken,
            "InstanceType": typeJSON,
            "GatewayAddress": Self.host(of: worker.address) + ":0",
            "GatewayAuthSecret": Digests.gatewayAuthSecret(
                uuid: uuid.rawValue,
                systemRootToken: configuration.systemRootToken
            ),
        ]
        if configuration.apiHostInsecure { environment["ARVADOS_API_HOST_INSECURE"] = "1" }
        if let ca = configuration.apiHostCA { environment["ARVADOS_API_CA"] = ca }
        // Arvados's runner.go: KeepBuffers and Cluster only when LocalKeepBlobBuffersPerVCPU > 0.
        let perVCPU = max(0, configuration.localKeepBlobBuffersPerVCPU)
        let buffers = perVCPU.multipliedReportingOverflow(by: max(0, worker.type.vcpus))
        // The cluster configuration, the same for every start and most of the document, is encoded once and put in
        // place of the null the document is encoded with (the same bytes as encoding it in place).
        let cluster = perVCPU > 0 ? configuration.clusterConfig ?? .null : .null
        // Written directly as JSON values, keys sorted (`JSONEncoder` took a tenth of a start's time); the runner
        // reads the same document.
        var document: [String: JSONValue] = [
            "Env": .object(environment.mapValues { .string($0) }),
            "KeepBuffers": .int(buffers.overflow ? Int64.max : Int64(buffers.partialValue)),
            "EC2SpotCheck": .bool(configuration.ec2SpotCheck && worker.type.preemptible),
            "Cluster": .null,
        ]
        if let scheme = configuration.apiScheme { document["APIScheme"] = .string(scheme) }
        if let record = self.startingContainers[uuid].flatMap(Self.runnerRecord) {
            // A record with a number JSON cannot hold cannot be sent (as `JSONEncoder` refused it).
            guard let object = try? record.jsonObject() else { return [] }
            document["Container"] = .object(object)
        }
        if let sandbox = configuration.runnerSandbox { document["Sandbox"] = sandbox }
        let encoded = JSONValue.object(document).jsonBytes
        guard cluster != .null else { return encoded }
        let clusterJSON: [UInt8]
        if let cached = self.runnerClusterJSON {
            clusterJSON = cached
        } else {
            clusterJSON = cluster.jsonBytes
            self.runnerClusterJSON = clusterJSON
        }
        return Self.replacingNullMember(Self.clusterKey, of: encoded, with: clusterJSON)
    }

    /// `"Cluster":null` as the document is encoded with it.
    static var clusterKey: [UInt8] { Array(#""Cluster":null"#.utf8) }

    /// `document` with the first `"KEY":null` (`member`) given `value` instead of null.
    ///
    /// For a top-level member encoded with sorted keys: no earlier bytes can hold the same text (a quote inside a
    /// string value is escaped), so the first occurrence is the member.
    static func replacingNullMember(_ member: [UInt8], of document: [UInt8], with value: [UInt8]) -> [UInt8] {
        guard document.count >= member.count else { return document }
        var start = 0
        while start + member.count <= document.count {
            if document[start] == member[0], document[start..<(start + member.count)].elementsEqual(member) {
                let null = start + member.count - 4
                return Array(document[..<null]) + value + Array(document[(start + member.count)...])
            }
            start += 1
        }
        return document
    }

    /// The record to hand the runner: a Locked one the queue holds in full (pushed, or returned by the lock). A
    /// polled record has no command (polls select only what scheduling needs): the runner fetches that one.
    static func runnerRecord(_ container: Container) -> Container? {
        container.state == .locked && !container.command.isEmpty ? container : nil
    }

    /// The host part of `host`, `host:port` or `[v6]:port`.
    static func host(of address: String) -> String {
        if address.hasPrefix("["), let end = address.firstIndex(of: "]") {
            return String(address[...end])
        }
        let parts = address.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 2 ? String(parts[0]) : address
    }
}
