import ArgumentParser
import ArvadosAPI
import DispatchModel
import Foundation

/// `dispatch-cloud submit`: create a container and print its UUID.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a container and print its UUID.",
        discussion: """
            Example: dispatch-cloud submit --vcpus 2 --ram 1GiB --env NAME=world -- sh -c 'echo hello $NAME'

            With --wait (as sbatch --wait), the UUID goes to standard error, the container's stdout and stderr \
            stream to this command's stdout and stderr, and the command exits with the container's exit code, \
            or \(ContainerExit.cancelledStatus) if the container ends Cancelled. With the embedded API a \
            container that no instance type can run is refused at once.
            """
    )

    @OptionGroup var api: APIOptions

    @Option(help: "VCPUs the container needs.")
    var vcpus = 1

    @Option(help: ArgumentHelp("Memory the container needs (e.g. 512MiB, 2GiB).", valueName: "size"))
    var ram = "256MiB"

    @Option(help: ArgumentHelp("Scratch space to mount at /tmp (e.g. 1GiB); none by default.", valueName: "size"))
    var tmp: String?

    @Option(help: "Priority (higher runs first); 0 never runs.")
    var priority = 1

    @Option(help: "Container image: a Docker image name for the docker/podman engines; unused by the process engine.")
    var image = "process"

    @Option(name: .customLong("env"), help: ArgumentHelp("Environment variable for the container.", valueName: "K=V"))
    var environment: [String] = []

    @Option(help: "Working directory inside the container.")
    var cwd = ""

    @Option(name: .customLong("max-run-time"), help: ArgumentHelp("Cancel after this many seconds.", valueName: "s"))
    var maxRunTime = 0

    @Flag(help: "Run only on preemptible (spot) instances.")
    var preemptible = false

    @Flag(help: "Wait for the container to finish, streaming its output, and exit with its exit code.")
    var wait = false

    @Argument(parsing: .postTerminator, help: "The command to run, after --.")
    var command: [String] = []

    func validate() throws {
        guard !self.arguments.isEmpty else { throw ValidationError("give the command to run after --") }
        guard self.vcpus > 0 else { throw ValidationError("--vcpus must be at least 1") }
        guard self.priority >= 0 else { throw ValidationError("--priority must not be negative") }
        guard self.maxRunTime >= 0 else { throw ValidationError("--max-run-time must not be negative") }
        for pair in self.environment where !pair.contains("=") {
            throw ValidationError("--env takes K=V, got \(pair)")
        }
        do {
            _ = try ByteSize(parsing: self.ram)
        } catch {
            throw ValidationError("--ram: \(error)")
        }
        do {
            if let tmp = self.tmp { _ = try ByteSize(parsing: tmp) }
        } catch {
            throw ValidationError("--tmp: \(error)")
        }
    }

    /// The command without the `--` separator.
    var arguments: [String] { self.command.first == "--" ? Array(self.command.dropFirst()) : self.command }

    func run() async throws {
        let connection = try self.api.connect()
        let ram = try ByteSize(parsing: self.ram)
        var environment: [String: JSONValue] = [:]
        for pair in self.environment {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            environment[String(parts[0])] = .string(parts.count > 1 ? String(parts[1]) : "")
        }
        var mounts: [String: JSONValue] = [:]
        if let tmp = self.tmp {
            mounts["/tmp"] = .object(["kind": .string("tmp"), "capacity": .int(try ByteSize(parsing: tmp).bytes)])
        }
        let attributes: [String: JSONValue] = [
            "command": .array(self.arguments.map { .string($0) }),
            "container_image": .string(self.image),
            "cwd": .string(self.cwd),
            "environment": .object(environment),
            "mounts": .object(mounts),
            "output_path": .string(self.cwd.isEmpty ? "/tmp" : self.cwd),
            "priority": .int(Int64(self.priority)),
            "runtime_constraints": .object(["vcpus": .int(Int64(self.vcpus)), "ram": .int(ram.bytes)]),
            "scheduling_parameters": .object([
                "preemptible": .bool(self.preemptible),
                "max_run_time": .int(Int64(self.maxRunTime)),
            ]),
        ]
        let container: Container
        do {
            container = try await connection.client.createContainer(attributes)
        } catch {
            throw connection.failure(error)
        }
        guard self.wait else {
            print(container.uuid)
            return
        }
        printToStandardError("submitted \(container.uuid)")
        var follower = LogFollower(connection: connection, uuid: container.uuid, runnerMessages: false, json: false)
        let final = try await follower.followToEnd()
        throw ContainerExit.report(final)
    }
}

/// What a finished container means for the exit status of `submit --wait` and `logs --exit-status`.
enum ContainerExit {
    /// The exit status when the container ends Cancelled (it has no exit code of its own).
    static let cancelledStatus: Int32 = 125

    /// The status for a final container: its exit code (0–255; any other code is 1), or ``cancelledStatus``.
    static func status(_ container: Container) -> Int32 {
        guard container.state == .complete, let code = container.exitCode else { return Self.cancelledStatus }
        return (0...255).contains(code) ? Int32(code) : 1
    }

    /// One line on standard error naming the outcome, and the exit status to leave with.
    static func report(_ container: Container) -> ExitCode {
        var line = "\(container.uuid): \(container.state.rawValue)"
        if container.state == .complete, let code = container.exitCode { line += ", exit code \(code)" }
        if let error = container.runtimeStatus["error"]?.stringValue, !error.isEmpty { line += ": \(error)" }
        printToStandardError(line)
        return ExitCode(Self.status(container))
    }
}

/// `dispatch-cloud containers`: list containers.
struct ContainersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "containers",
        abstract: "List containers with their state, priority and exit code.",
        subcommands: [ContainersListCommand.self, CancelCommand.self, ContainerKillCommand.self],
        defaultSubcommand: ContainersListCommand.self
    )
}

/// `dispatch-cloud containers list` (the default).
struct ContainersListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List containers, newest first."
    )

    @OptionGroup var api: APIOptions

    @Option(
        help: ArgumentHelp(
            "Only containers in this state: \(ContainerState.allCases.map(\.rawValue).joined(separator: ", ")) "
                + "(any case).",
            valueName: "state"
        )
    )
    var state: String?

    @Option(help: "At most this many containers.")
    var limit = 100

    @Flag(help: "Print the containers as one compact JSON array.")
    var json = false

    func validate() throws {
        if let state = self.state, Self.state(named: state) == nil {
            throw ValidationError(
                "--state: unknown state '\(state)'; valid states are "
                    + ContainerState.allCases.map(\.rawValue).joined(separator: ", ")
            )
        }
        guard self.limit > 0 else { throw ValidationError("--limit must be at least 1") }
    }

    /// A container state named in any case.
    static func state(named name: String) -> ContainerState? {
        ContainerState.allCases.first { $0.rawValue.lowercased() == name.lowercased() }
    }

    func run() async throws {
        let connection = try self.api.connect()
        var filters: [ArvadosFilter] = []
        if let name = self.state, let state = Self.state(named: name) {
            filters.append(ArvadosFilter("state", "=", .string(state.rawValue)))
        }
        let list: ArvadosList<Container>
        do {
            list = try await connection.client.containers(
                filters: filters,
                order: ["created_at desc"],
                limit: self.limit
            )
        } catch {
            throw connection.failure(error)
        }
        if self.json {
            print(try CompactJSON.string(list.items))
            return
        }
        let rows = list.items.map { container in
            [
                container.uuid.rawValue, container.state.rawValue, String(container.priority),
                container.exitCode.map(String.init) ?? "-",
                container.cost.isFinite ? String(format: "%.4f", container.cost) : "-",
                container.runtimeStatus["error"]?.stringValue ?? "",
                container.command.joined(separator: " "),
            ]
        }
        print(Table.render(header: ["UUID", "STATE", "PRIORITY", "EXIT", "COST", "ERROR", "COMMAND"], rows: rows))
    }
}

/// `dispatch-cloud cancel UUID` (also `containers cancel`).
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a container; a running one is stopped by the dispatcher.",
        discussion: """
            A Queued container is cancelled at once. For a Locked or Running one, cancel sets its priority to 0, \
            Arvados's way of cancelling: the dispatcher then stops its runner and the container ends Cancelled. \
            By default the command waits for that end (--no-wait returns at once) and says what happened; it \
            exits 0 once the container is Cancelled, 1 if it ended Complete first or could not be changed.
            """
    )

    @OptionGroup var api: APIOptions

    @Flag(inversion: .prefixedNo, help: "Wait until the container has ended.")
    var wait = true

    @Option(help: ArgumentHelp("How long to wait, in seconds.", valueName: "s"))
    var timeout = 120

    @Argument(help: "The container UUID.")
    var uuid: String

    func validate() throws {
        guard self.timeout > 0 else { throw ValidationError("--timeout must be at least 1") }
    }

    func run() async throws {
        let connection = try self.api.connect()
        let client = connection.client
        let uuid = ContainerUUID(rawValue: self.uuid)
        var container: Container
        var cancelledHere = false
        do {
            container = try await client.container(uuid)
            if container.state == .queued {
                do {
                    container = try await client.updateContainer(
                        uuid,
                        ["state": .string("Cancelled"), "priority": .int(0)]
                    )
                    cancelledHere = true
                } catch  where error.code == .forbidden || error.code == .unprocessable {
                    // Locked by a dispatcher meanwhile: take the Locked path below.
                    container = try await client.container(uuid)
                }
            }
            if container.state == .locked || container.state == .running {
                if container.priority != 0 {
                    container = try await client.updateContainer(uuid, ["priority": .int(0)])
                }
            }
        } catch {
            throw connection.failure(error)
        }
        if container.state.isFinal {
            throw Self.finished(container, already: !cancelledHere)
        }
        guard self.wait else {
            print("\(uuid) \(container.state.rawValue), priority 0: the dispatcher will stop it")
            return
        }
        printToStandardError(
            "\(uuid) is \(container.state.rawValue): priority set to 0, waiting for the dispatcher to stop it"
        )
        let deadline = ContinuousClock.now.advanced(by: .seconds(self.timeout))
        while !container.state.isFinal {
            guard ContinuousClock.now < deadline else {
                throw runtimeFailure(
                    "\(uuid) is still \(container.state.rawValue) after \(self.timeout) s with priority 0; is the "
                        + "dispatcher running?"
                )
            }
            try await Task.sleep(for: .milliseconds(250))
            do {
                container = try await client.container(uuid)
            } catch {
                throw connection.failure(error)
            }
        }
        throw Self.finished(container, already: false)
    }

    /// Says how a container ended; success only when it is Cancelled.
    static func finished(_ container: Container, already: Bool) -> ExitCode {
        let uuid = container.uuid
        switch container.state {
        case .cancelled:
            print(already ? "\(uuid) Cancelled (it already was)" : "\(uuid) Cancelled")
            return ExitCode.success
        default:
            let code = container.exitCode.map { " with exit code \($0)" } ?? ""
            return runtimeFailure("\(uuid) cannot be cancelled: it ended \(container.state.rawValue)\(code)")
        }
    }
}

/// `dispatch-cloud logs UUID [--follow]`: print a container's output.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a container's stdout and stderr (and the runner's messages with --all).",
        discussion: """
            The container's stdout goes to standard output and its stderr to standard error, in the order they \
            were written; the runner's messages (--all) go to standard error. --json prints every record instead \
            as one compact JSON object per line on standard output. --exit-status waits for the end, prints the \
            final state on standard error and exits with the container's exit code \
            (\(ContainerExit.cancelledStatus) if it ended Cancelled).
            """
    )

    @OptionGroup var api: APIOptions

    @Flag(name: .shortAndLong, help: "Keep printing new output until the container finishes.")
    var follow = false

    @Flag(help: "Include the runner's own messages (event type crunch-run).")
    var all = false

    @Flag(help: "Print log records as JSON, one object per line.")
    var json = false

    @Flag(
        name: .customLong("exit-status"),
        help: "Wait for the container to finish and exit with its exit code."
    )
    var exitStatus = false

    @Argument(help: "The container UUID.")
    var uuid: String

    func run() async throws {
        let connection = try self.api.connect()
        var follower = LogFollower(
            connection: connection,
            uuid: ContainerUUID(rawValue: self.uuid),
            runnerMessages: self.all,
            json: self.json
        )
        if self.follow || self.exitStatus {
            let final = try await follower.followToEnd()
            if self.exitStatus { throw ContainerExit.report(final) }
        } else {
            _ = try await follower.printOnce()
        }
    }
}

/// Prints a container's log records as they arrive: stdout to standard output, the rest to standard error.
struct LogFollower {
    let connection: APIConnection
    let uuid: ContainerUUID
    let runnerMessages: Bool
    let json: Bool
    private var printed = 0

    init(connection: APIConnection, uuid: ContainerUUID, runnerMessages: Bool, json: Bool) {
        self.connection = connection
        self.uuid = uuid
        self.runnerMessages = runnerMessages
        self.json = json
    }

    /// Prints what is new until the container is final; returns its final record.
    mutating func followToEnd() async throws -> Container {
        while true {
            let container = try await self.printOnce()
            if container.state.isFinal { return container }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// Reads the container, then prints every record not printed yet; returns the container as read first, so
    /// output written before it went final has been printed when it says final.
    mutating func printOnce() async throws -> Container {
        var events: [JSONValue] = [.string("stdout"), .string("stderr")]
        if self.runnerMessages { events.append(.string("crunch-run")) }
        let filters = [
            ArvadosFilter("object_uuid", "=", .string(self.uuid.rawValue)),
            ArvadosFilter("event_type", "in", .array(events)),
        ]
        do {
            let container = try await self.connection.client.container(self.uuid)
            while true {
                let page = try await self.connection.client.logs(filters: filters, limit: 1000, offset: self.printed)
                for log in page.items { try self.write(log) }
                self.printed += page.items.count
                if page.items.count < 1000 { return container }
            }
        } catch let error as ArvadosAPIError {
            throw self.connection.failure(error)
        }
    }

    private func write(_ log: ArvadosLog) throws {
        if self.json {
            var object: [String: JSONValue] = [
                "object_uuid": .string(log.objectUUID),
                "event_type": .string(log.eventType),
                "text": .string(log.text ?? ""),
            ]
            if let uuid = log.uuid { object["uuid"] = .string(uuid) }
            if let created = log.createdAt { object["created_at"] = .string(created.description) }
            FileHandle.standardOutput.write(Data((try CompactJSON.string(object) + "\n").utf8))
            return
        }
        let handle = log.eventType == "stdout" ? FileHandle.standardOutput : FileHandle.standardError
        handle.write(Data((log.text ?? "").utf8))
    }
}

/// JSON for scripts: compact, keys sorted, slashes unescaped.
enum CompactJSON {
    static func string(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// Plain column-aligned text tables for the command line.
enum Table {
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
