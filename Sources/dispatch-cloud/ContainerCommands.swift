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

    @Argument(parsing: .postTerminator, help: "The command to run, after --.")
    var command: [String] = []

    func validate() throws {
        guard !self.arguments.isEmpty else { throw ValidationError("give the command to run after --") }
        guard self.vcpus >= 0 else { throw ValidationError("--vcpus must not be negative") }
        guard self.priority >= 0 else { throw ValidationError("--priority must not be negative") }
        for pair in self.environment where !pair.contains("=") {
            throw ValidationError("--env takes K=V, got \(pair)")
        }
        do {
            _ = try ByteSize(parsing: self.ram)
            if let tmp = self.tmp { _ = try ByteSize(parsing: tmp) }
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The command without the `--` separator.
    var arguments: [String] { self.command.first == "--" ? Array(self.command.dropFirst()) : self.command }

    func run() async throws {
        let client = try self.api.client()
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
        do {
            print(try await client.createContainer(attributes).uuid)
        } catch {
            throw error.exit()
        }
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

    @Option(help: "Only containers in this state (Queued, Locked, Running, Complete, Cancelled).")
    var state: String?

    @Option(help: "At most this many containers.")
    var limit = 100

    @Flag(help: "Print the containers as JSON.")
    var json = false

    func run() async throws {
        let client = try self.api.client()
        var filters: [ArvadosFilter] = []
        if let state = self.state {
            guard ContainerState(rawValue: state) != nil else {
                throw ValidationError("unknown state \(state)")
            }
            filters.append(ArvadosFilter("state", "=", .string(state)))
        }
        let list: ArvadosList<Container>
        do {
            list = try await client.containers(filters: filters, order: ["created_at desc"], limit: self.limit)
        } catch {
            throw error.exit()
        }
        if self.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(list.items), as: UTF8.self))
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
        abstract: "Cancel a container; a running one is stopped by the dispatcher."
    )

    @OptionGroup var api: APIOptions

    @Argument(help: "The container UUID.")
    var uuid: String

    func run() async throws {
        let client = try self.api.client()
        do {
            let container = try await client.updateContainer(
                ContainerUUID(rawValue: self.uuid),
                ["state": .string("Cancelled"), "priority": .int(0)]
            )
            print("\(container.uuid) \(container.state.rawValue)")
        } catch {
            throw error.exit()
        }
    }
}

/// `dispatch-cloud logs UUID [--follow]`: print a container's output.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a container's stdout and stderr (and the runner's messages with --all)."
    )

    @OptionGroup var api: APIOptions

    @Flag(name: .shortAndLong, help: "Keep printing new output until the container finishes.")
    var follow = false

    @Flag(help: "Include the runner's own messages (event type crunch-run).")
    var all = false

    @Argument(help: "The container UUID.")
    var uuid: String

    func run() async throws {
        let client = try self.api.client()
        let uuid = ContainerUUID(rawValue: self.uuid)
        var events: [JSONValue] = [.string("stdout"), .string("stderr")]
        if self.all { events.append(.string("crunch-run")) }
        let filters = [
            ArvadosFilter("object_uuid", "=", .string(uuid.rawValue)),
            ArvadosFilter("event_type", "in", .array(events)),
        ]
        var printed = 0
        do {
            while true {
                // Read the state first, so output written before it went final is fetched below.
                let final = try await client.container(uuid, select: ["uuid", "state"]).state.isFinal
                while true {
                    let page = try await client.logs(filters: filters, limit: 1000, offset: printed)
                    for log in page.items {
                        FileHandle.standardOutput.write(Data((log.text ?? "").utf8))
                    }
                    printed += page.items.count
                    if page.items.count < 1000 { break }
                }
                if !self.follow || final { return }
                try await Task.sleep(for: .seconds(1))
            }
        } catch let error as ArvadosAPIError {
            throw error.exit()
        }
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
