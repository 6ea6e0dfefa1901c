import CloudDriver
import DispatchModel
import Foundation
import RemoteExecution
import Simulation

/// The runner protocol as a simulated instance answers it (reference §7.3).
///
/// | Command | Answer |
/// |---|---|
/// | anything, on an instance created broken (`BrokenAtFirst`) | exit 2, `cannot fork` |
/// | anything, before the instance has booted | exit 1, `simulated instance is booting` |
/// | anything, once an unresponsive instance stops answering or after `destroy` | throws, as a failed SSH connection |
/// | `cat /var/run/arvados-instance-secret` | the secret the init command wrote |
/// | the deploy script (`…; cat >"$dstfile"`, possibly in `sudo sh -c '…'`) | keeps the MD5 of stdin for `dstfile` |
/// | `md5sum PATH` | `<md5>  PATH` for a deployed path, else exit 1 |
/// | `RUNNER --list` | running UUIDs, `UUID stale` lines and `broken`, per `RunnerList` |
/// | `RUNNER --detach --stdin-config … UUID` | starts the container (stdin must be a JSON object); exit 1 if its lock is held |
/// | `RUNNER --kill SIGNAL UUID` | stops the container if it runs (with `WaitsForRunnerUpdates`, it stays listed until finalized); exit 0 |
/// | any other command (the boot probe) | exit 0 |
///
/// `RUNNER` is `crunch-run` or `dispatch-runner` on the path, or a deployed path; with the runner missing
/// (`RunnerMissingRate`) or an undeployed path, runner commands exit 127. A leading `sudo` is ignored.
extension SimulatedCloud {
    static var secretPath: String { "/var/run/arvados-instance-secret" }

    @_specialize(where C == VirtualClock, RNG == SeededRandomNumberGenerator)
    @_specialize(where C == ContinuousClock, RNG == SeededRandomNumberGenerator)
    func execute(on id: InstanceID, command: String, stdin: [UInt8]) throws(CloudError) -> CommandResult {
        let now = self.clock.now
        self.commandCount += 1
        self.processDueEvents()
        guard let index = self.vms.index(forKey: id) else {
            throw .notFound("simulated instance \(id) does not exist")
        }
        switch Self.refusal(of: &self.vms.values[index], at: now) {
        case .none: break
        case .shuttingDown: throw .other("simulated instance \(id) is shutting down")
        case .notAnswering(let first):
            if first { self.emit(.instanceStoppedAnswering, id, at: now) }
            throw .other("simulated instance \(id) is not answering")
        case .answered(let result): return result
        }
        // The run probe, most commands by far: the same text as the last one, answered reading the instance in
        // place (a read of a dictionary value copies it whole).
        if let last = self.lastListCommand, last.command == command {
            return Self.answerRunProbe(on: &self.vms.values[index], runner: last.runner)
        }
        let vm = self.vms.values[index]

        var words: [String]
        let runsRunner: Bool
        if let known = self.listCommands[command] {
            (words, runsRunner) = (known, true)
        } else {
            words = ShellWords.split(command)
            if words.first == "sudo" { words.removeFirst() }
            runsRunner = words.first.map(Self.isRunner) ?? false
            if runsRunner && words.contains("--list") && self.listCommands.count < 8 {
                self.listCommands[command] = words
            }
        }
        if runsRunner, let runner = words.first, words.contains("--list") {
            self.lastListCommand = (command, (runner, Self.isPath(runner)))
        }
        // The runner's own commands (every probe) first, without a search of the command text.
        if runsRunner, let runner = words.first {
            if let notFound = Self.runnerNotFound((runner, Self.isPath(runner)), on: vm) { return notFound }
            return self.runRunner(on: id, arguments: Array(words.dropFirst()), stdin: stdin, now: now)
        }
        if Self.isDeployScript(command) {
            return self.deploy(on: id, script: command, content: stdin)
        }
        if words == ["cat", Self.secretPath] {
            guard let secret = vm.secret else {
                return CommandResult(
                    stderr: "cat: \(Self.secretPath): No such file or directory\n",
                    exitStatus: 1
                )
            }
            return CommandResult(stdout: secret, exitStatus: 0)
        }
        if words.count == 2, words[0] == "md5sum" {
            guard let digest = vm.deployed[words[1]] else {
                return CommandResult(stderr: "md5sum: \(words[1]): No such file or directory\n", exitStatus: 1)
            }
            return CommandResult(stdout: "\(digest)  \(words[1])\n", exitStatus: 0)
        }
        return CommandResult(exitStatus: 0)
    }

    /// Why an instance does not run a command it is sent.
    private enum Refusal {
        /// It is shutting down.
        case shuttingDown
        /// It stopped answering; `first` for the first command it refuses.
        case notAnswering(first: Bool)
        /// It answers without running the command: it is broken, or still booting.
        case answered(CommandResult)
    }

    /// How `vm` treats any command before it runs it at `now`, or `nil` when it runs it; notes the first refusal
    /// of an instance that stopped answering.
    private static func refusal(of vm: inout VM, at now: C.Instant) -> Refusal? {
        if vm.shutdownSince != nil { return .shuttingDown }
        if let unresponsiveAt = vm.unresponsiveAt, unresponsiveAt <= now {
            defer { vm.refusedCommands = true }
            return .notAnswering(first: !vm.refusedCommands)
        }
        if vm.brokenOutright {
            return .answered(CommandResult(stderr: "sh: 1: cannot fork\n", exitStatus: 2))
        }
        guard vm.bootedAt <= now else {
            return .answered(CommandResult(stderr: "simulated instance is booting\n", exitStatus: 1))
        }
        return nil
    }

    /// The answer to a run probe of `runner` on `vm`, which runs commands: the shell's failure or its listing.
    private static func answerRunProbe(on vm: inout VM, runner: (word: String, isPath: Bool)) -> CommandResult {
        if let notFound = Self.runnerNotFound(runner, on: vm) { return notFound }
        return CommandResult(stdout: Self.listing(of: &vm), stderr: [], exitStatus: 0)
    }

    /// The shell's answer when `runner` cannot run on `vm` (the runner is missing there, or `runner` is a path not
    /// deployed there); `nil` when it can.
    private static func runnerNotFound(_ runner: (word: String, isPath: Bool), on vm: VM) -> CommandResult? {
        guard vm.runnerMissing || (runner.isPath && vm.deployed[runner.word] == nil) else { return nil }
        return CommandResult(stderr: "sh: 1: \(runner.word): not found\n", exitStatus: 127)
    }

    /// Whether `word` names the runner by a path rather than through `PATH`.
    private static func isPath(_ word: String) -> Bool { word.utf8.contains(UInt8(ascii: "/")) }

    /// Whether `command` is the deploy script (it writes `"$dstfile"`): a byte search, as every boot probe asks.
    static func isDeployScript(_ command: String) -> Bool {
        let needle = Array("cat >\"$dstfile\"".utf8)
        let haystack = Array(command.utf8)
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    static func isRunner(_ path: String) -> Bool {
        let name = path.lastIndex(of: "/").map { path[path.index(after: $0)...] } ?? path[...]
        return name == "crunch-run" || name.hasPrefix("crunch-run~") || name.hasPrefix("dispatch-runner")
    }

    private func deploy(on id: InstanceID, script: String, content: [UInt8]) -> CommandResult {
        guard let assignment = script.range(of: "dstfile="),
            let path = ShellWords.split(String(script[assignment.upperBound...].prefix { $0 != ";" })).first,
            !path.isEmpty
        else {
            return CommandResult(stderr: "simulated deploy: no dstfile in script\n", exitStatus: 2)
        }
        self.vms[id]?.deployed[path] = self.md5(of: content)
        return CommandResult(exitStatus: 0)
    }

    /// The MD5 of deployed content, remembered for the last content: the same array (the pool's one copy of
    /// the runner binary) is hashed once. The remembered array is kept alive, so equal storage addresses mean
    /// the same bytes; anything else is compared byte for byte or hashed.
    private func md5(of content: [UInt8]) -> String {
        if let last = self.lastDeployed, last.content.count == content.count {
            let same = last.content.withUnsafeBufferPointer { a in
                content.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress }
            }
            if same || last.content == content { return last.md5 }
        }
        let md5 = MD5.hex(content)
        self.lastDeployed = (content, md5)
        return md5
    }

    @_specialize(where C == VirtualClock, RNG == SeededRandomNumberGenerator)
    @_specialize(where C == ContinuousClock, RNG == SeededRandomNumberGenerator)
    private func runRunner(
        on id: InstanceID,
        arguments: [String],
        stdin: [UInt8],
        now: C.Instant
    ) -> CommandResult {
        guard let index = self.vms.index(forKey: id) else { return CommandResult(exitStatus: 1) }
        if arguments.contains("--list") {
            return CommandResult(stdout: Self.listing(of: &self.vms.values[index]), stderr: [], exitStatus: 0)
        }
        if let kill = arguments.firstIndex(of: "--kill") {
            guard kill + 2 < arguments.count, let signal = Int32(arguments[kill + 1]) else {
                return CommandResult(stderr: "usage: --kill SIGNAL UUID\n", exitStatus: 2)
            }
            self.kill(ContainerUUID(rawValue: arguments[kill + 2]), signal: signal, on: id, now: now)
            return CommandResult(exitStatus: 0)
        }
        if arguments.contains("--detach") {
            guard let uuid = arguments.last, !uuid.hasPrefix("-") else {
                return CommandResult(stderr: "usage: --detach [options] UUID\n", exitStatus: 2)
            }
            return self.detach(ContainerUUID(rawValue: uuid), config: stdin, on: id, now: now)
        }
        return CommandResult(stderr: "simulated runner: unsupported arguments\n", exitStatus: 2)
    }

    /// The `--list` answer of `vm`, kept in it until its runs or stale locks change.
    private static func listing(of vm: inout VM) -> [UInt8] {
        if let listing = vm.listing { return listing }
        let listing = Array(
            RunnerList(running: vm.runs.keys.sorted(), stale: vm.staleLocks, broken: vm.reportsBroken).rendered.utf8
        )
        vm.listing = listing
        return listing
    }

    private func detach(
        _ uuid: ContainerUUID,
        config: [UInt8],
        on id: InstanceID,
        now: C.Instant
    ) -> CommandResult {
        guard case .object = try? JSONParser.shape(of: config[...]) else {
            return CommandResult(stderr: "error reading config from stdin: not a JSON object\n", exitStatus: 1)
        }
        guard var vm = self.vms[id] else { return CommandResult(exitStatus: 1) }
        guard vm.runs[uuid] == nil, !vm.staleLocks.contains(uuid) else {
            return CommandResult(stderr: "lock \(uuid) is held by another process\n", exitStatus: 1)
        }
        let plan = self.plans[uuid]
        let runTime = plan?.runTime ?? self.sample(self.parameters.runTime)
        let crashes = self.chance(self.parameters.runnerCrashRate)
        let duration = crashes ? self.sample(from: .zero, to: runTime) : runTime
        let exitCode = crashes ? nil : (plan?.exitCode ?? self.sampleExitCode())
        let run = Run(
            sequence: self.makeSequence(),
            endsAt: now.advanced(by: duration),
            exitCode: exitCode,
            leavesStaleLock: self.chance(self.parameters.staleLockRate),
            startedAt: now,
            configuration: config
        )
        let pid = vm.nextPID
        vm.nextPID += 1
        vm.runs[uuid] = run
        self.vms[id] = vm
        self.schedule(Deadline(at: run.endsAt, sequence: run.sequence, instanceID: id, container: uuid))
        if vm.preemptible, let rate = self.parameters.preemptions[vm.providerType], self.chance(rate) {
            // The instance is preempted part-way through this run: it leaves the list, as a spot interruption.
            let at = now.advanced(by: self.sample(from: .zero, to: duration))
            self.schedule(Deadline(at: at, sequence: self.makeSequence(), instanceID: id, container: nil))
        }
        self.emit(.containerStarted(uuid), id, at: now)
        return CommandResult(stdout: "{\"UUID\":\"\(uuid)\",\"PID\":\(pid)}\n", exitStatus: 0)
    }

    private func kill(_ uuid: ContainerUUID, signal: Int32, on id: InstanceID, now: C.Instant) {
        guard var run = self.vms[id]?.runs[uuid], !run.exited else { return }
        if self.parameters.waitsForRunnerUpdates {
            // As a real runner: it stops the container, stores the final state, and leaves the list then.
            run.exited = true
            run.exitCode = nil
            self.vms[id]?.runs[uuid] = run
            self.emit(.containerKilled(uuid, signal: signal), id, at: now)
            return
        }
        self.vms[id]?.runs[uuid] = nil
        self.emit(.containerKilled(uuid, signal: signal), id, at: now)
        if run.leavesStaleLock {
            self.vms[id]?.staleLocks.append(uuid)
            self.emit(.lockLeftStale(uuid), id, at: now)
        }
    }
}
