import ArgumentParser
import DispatchModel

/// The program the dispatcher runs on each worker VM; command-line compatible with Arvados's `crunch-run`.
@main
struct DispatchRunner: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch-runner",
        abstract: "Run containers on a worker VM for dispatch-cloud (crunch-run compatible).",
        discussion: """
            The dispatcher deploys this program to each worker and calls it over SSH:
              dispatch-runner --list
              dispatch-runner --detach --stdin-config [ARGS…] UUID
              dispatch-runner --kill SIGNAL UUID
            Running containers arrives with the worker-pool issue; until then every mode reports that it
            is not yet available and exits 1.
            """
    )

    @Flag(name: .customLong("list"), help: "List the containers running on this node, one UUID per line.")
    var list = false

    @Flag(name: .customLong("detach"), help: "Start the container in the background and return.")
    var detach = false

    @Option(name: .customLong("kill"), help: "Send SIGNAL (a number) to the runner of UUID.")
    var kill: Int32?

    @Argument(help: "The container UUID.")
    var uuid: String?

    func run() throws {
        throw ValidationError("dispatch-runner: running containers is not yet available in this build")
    }
}
