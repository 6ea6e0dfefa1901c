public import DispatchModel

/// The runner's command line, parsed the way Go's `flag` package parses `crunch-run`'s: flags may start with
/// one dash or two, values follow as `-flag=value` or as the next argument, and parsing stops at the first
/// argument that is not a flag (the container UUID).
///
/// Flags this runner does not know are ignored with a warning, because `Containers.CrunchRunArgumentsList` may
/// carry `crunch-run` options that have no meaning here.
public struct RunnerArguments: Hashable, Sendable {
    public enum Mode: Hashable, Sendable {
        case list
        case detach
        case supervise
        case kill(signal: Int32)
        case help
        case version
    }

    public var mode: Mode
    public var uuid: String?
    public var stdinConfig = false
    public var stdinEnv = false
    public var stdinPrices = false
    public var runtimeEngine = "process"
    public var lockDirectory: String?
    /// Arguments to hand to the supervising child: everything but the mode flags.
    public var passThrough: [String] = []
    /// Flags that were ignored.
    public var ignored: [String] = []

    /// Flags whose value may be the next argument. An array: the runner's first `Set<String>` would cost its start
    /// a scan of every protocol conformance in the binary (about 0.1 ms).
    static let valueFlags = ["kill", "runtime-engine", "lock-dir"]

    public init(parsing arguments: [String]) throws(RunnerError) {
        var mode: Mode?
        var index = 0
        var parsed = RunnerArguments(mode: .help)
        func set(_ new: Mode) throws(RunnerError) {
            if let mode, mode != new {
                throw RunnerError(.usage, "choose one of --list, --detach, --kill and --no-detach")
            }
            mode = new
        }
        while index < arguments.count {
            let argument = arguments[index]
            guard argument.hasPrefix("-"), argument != "-" else { break }
            index += 1
            if argument == "--" { break }
            let body = argument.drop(while: { $0 == "-" })
            let name = String(body.prefix(while: { $0 != "=" }))
            var value: String? = body.contains("=") ? String(body.drop(while: { $0 != "=" }).dropFirst()) : nil
            if value == nil && Self.valueFlags.contains(name) {
                guard index < arguments.count else { throw RunnerError(.usage, "flag needs a value: \(argument)") }
                value = arguments[index]
                index += 1
            }
            switch name {
            case "list": try set(.list)
            case "detach": try set(.detach)
            case "no-detach": try set(.supervise)
            case "kill":
                // 0 (a liveness check) up to the highest real-time signal; kill(2) refuses anything else.
                guard let text = value, let signal = Int32(text), (0...64).contains(signal) else {
                    throw RunnerError(
                        .usage,
                        "--kill takes a signal number from 0 to 64, got \(value.map(Self.quoted) ?? "nothing")"
                    )
                }
                try set(.kill(signal: signal))
            case "stdin-config": parsed.stdinConfig = true
            case "stdin-env": parsed.stdinEnv = true
            case "stdin-prices": parsed.stdinPrices = true
            case "runtime-engine": parsed.runtimeEngine = value ?? ""
            case "lock-dir": parsed.lockDirectory = value
            case "h", "help": try set(.help)
            case "version": try set(.version)
            default: parsed.ignored.append(argument)
            }
            if !["list", "detach", "no-detach", "kill", "h", "help", "version"].contains(name) {
                parsed.passThrough.append(value.map { "--\(name)=\($0)" } ?? "--\(name)")
            }
        }
        let rest = arguments[index...]
        parsed.uuid = rest.first
        if rest.count > 1 {
            throw RunnerError(.usage, "unexpected arguments after the UUID: \(rest.dropFirst().joined(separator: " "))")
        }
        parsed.mode = mode ?? .help
        switch parsed.mode {
        case .detach, .supervise, .kill:
            guard let uuid = parsed.uuid else { throw RunnerError(.usage, "a container UUID is required") }
            // The UUID names a lock file: nothing but the Arvados shape may reach a path.
            guard ContainerUUID(rawValue: uuid).isWellFormed else {
                throw RunnerError(.usage, "not a container UUID (xxxxx-dz642-xxxxxxxxxxxxxxx): \(Self.quoted(uuid))")
            }
        case .list, .help, .version:
            break
        }
        self = parsed
    }

    /// The container UUID, once parsing has checked its shape (``uuid`` of a mode that needs one).
    public var containerUUID: ContainerUUID? {
        self.uuid.map { ContainerUUID(rawValue: $0) }.flatMap { $0.isWellFormed ? $0 : nil }
    }

    /// `text` quoted for an error message: control characters escaped, at most 64 characters.
    static func quoted(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars.prefix(64) {
            result += scalar.value < 0x20 || scalar.value == 0x7F ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return "\"" + result + (text.unicodeScalars.count > 64 ? "…" : "") + "\""
    }

    private init(mode: Mode) { self.mode = mode }

    public static let usage = """
        usage: dispatch-runner --list [--stdin-prices]
               dispatch-runner --detach [--stdin-config | --stdin-env] [--runtime-engine=ENGINE] UUID
               dispatch-runner --kill SIGNAL UUID

        Runs containers on a worker VM for dispatch-cloud; command-line compatible with Arvados's crunch-run.

          --list             print one line per container with a live runner, "UUID stale" for a lock no live
                             runner holds, and "broken" when this node is marked broken
          --detach           start the container in the background; return once its process has started
          --stdin-config     read the runner configuration (JSON: Env, KeepBuffers, …) from stdin
          --stdin-env        read the API environment (JSON object) from stdin
          --kill SIGNAL      send SIGNAL (a number, e.g. 15) to the container's runner and wait up to 1 s
          --runtime-engine   process (default; runs the command directly), docker or podman
          --lock-dir DIR     where lock files live (default $DISPATCH_RUNNER_LOCK_DIR, else /var/lock)
          --version          print the version

        Unknown crunch-run flags are accepted and ignored.
        """
}
