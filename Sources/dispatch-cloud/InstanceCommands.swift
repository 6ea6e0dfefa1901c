import ArgumentParser
import ArvadosAPI
import DispatchConfig
import DispatchModel
import Foundation
import ManagementAPI
import TLSSupport

/// Where the dispatcher's management API is and which token to use, for `instances` and `containers kill`.
///
/// `--url` (repeatable), else `$DISPATCH_CLOUD_URL` (comma-separated), else every
/// `Services.DispatchCloud.InternalURLs` entry of the configuration, else its `ExternalURL`. The token is
/// `$DISPATCH_CLOUD_MANAGEMENT_TOKEN`, else the configuration's `ManagementToken`. The configuration is read
/// only when one of the two is missing.
struct ManagementOptions: ParsableArguments {
    @OptionGroup var configOptions: ConfigOptions

    @Option(
        name: .customLong("url"),
        help: ArgumentHelp("The dispatcher's management URL (repeatable).", valueName: "url")
    )
    var urls: [String] = []

    @Option(
        name: .customLong("ca-file"),
        help: ArgumentHelp(
            "PEM file of the CA to trust for an https:// dispatcher instead of the system's roots.",
            discussion: """
                Defaults to $DISPATCH_CLOUD_CA, then $ARVADOS_API_CA, then, when the configuration is read, the \
                private CA at the end of its TLS.Certificate chain (dispatch-cloud tls init writes it there).
                """,
            valueName: "file"
        )
    )
    var caFile: String?

    /// One client per dispatcher URL.
    ///
    /// `--url`, else `DISPATCH_CLOUD_URL`; the token is `DISPATCH_CLOUD_MANAGEMENT_TOKEN`; whatever is missing
    /// comes from the cluster configuration (`--config`, `DISPATCH_CLOUD_CONFIG` or a default file). When
    /// nothing names a dispatcher, the one error says which option or variable would.
    func clients() throws -> [ManagementClient] {
        let settings = ClientSettings.current()
        var urls = self.urls
        if urls.isEmpty, self.configOptions.path == nil, let fromSettings = settings["DISPATCH_CLOUD_URL"] {
            urls = fromSettings.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        var token = self.configOptions.path == nil ? settings["DISPATCH_CLOUD_MANAGEMENT_TOKEN"] ?? "" : ""
        var caPEM: String?
        do throws(ArvadosAPIError) {
            if let caFile = self.caFile {
                caPEM = try ArvadosClient.caPEM(APIOptions.absolute(caFile), source: "--ca-file")
            } else if let ca = settings["DISPATCH_CLOUD_CA"] ?? settings[ArvadosClient.caVariable] {
                caPEM = try ArvadosClient.caPEM(APIOptions.absolute(ca))
            }
        } catch {
            throw usageFailure(error.message)
        }
        // The configuration also names the CA when the management API serves its TLS.Certificate.
        let readsConfig = urls.isEmpty || token.isEmpty
        if readsConfig || (caPEM == nil && self.configOptions.path != nil) {
            guard let source = self.configOptions.source(settings) else {
                if urls.isEmpty {
                    throw usageFailure(
                        "no dispatcher to talk to: pass --url URL or set DISPATCH_CLOUD_URL (the dispatcher's "
                            + "Services.DispatchCloud.InternalURLs) with DISPATCH_CLOUD_MANAGEMENT_TOKEN, or name "
                            + "the cluster configuration: \(settings.howToNameConfig)"
                    )
                }
                throw usageFailure(
                    "no management token: set DISPATCH_CLOUD_MANAGEMENT_TOKEN, or name the cluster configuration "
                        + "(its ManagementToken): \(settings.howToNameConfig)"
                )
            }
            let config = try ConfigOptions.load(source).config
            if urls.isEmpty {
                urls = config.services.dispatchCloud.internalURLs.map(\.url)
                if urls.isEmpty && !config.services.dispatchCloud.externalURL.isEmpty {
                    urls = [config.services.dispatchCloud.externalURL]
                }
            }
            if token.isEmpty { token = config.managementToken.value }
            if caPEM == nil, !config.tls.certificate.isEmpty, !config.tls.key.isEmpty {
                caPEM = try? ServerIdentity.load(certificate: config.tls.certificate, key: config.tls.key.value)
                    .privateCAPEM
            }
            guard !urls.isEmpty else {
                throw usageFailure(
                    "no dispatcher URL: set Services.DispatchCloud.InternalURLs in \(source.path), "
                        + "DISPATCH_CLOUD_URL, or --url"
                )
            }
            guard !token.isEmpty else {
                throw usageFailure(
                    "no management token: set ManagementToken in \(source.path) or DISPATCH_CLOUD_MANAGEMENT_TOKEN"
                )
            }
        }
        return try urls.map { text in
            guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme),
                url.host != nil
            else {
                throw usageFailure("\(text) is not a valid dispatcher URL (expected http://host:port/)")
            }
            guard let caPEM, scheme == "https" else { return ManagementClient(baseURL: url, token: token) }
            do throws(ManagementError) {
                return try ManagementClient(baseURL: url, token: token, trustingCA: caPEM)
            } catch {
                throw usageFailure(error.message)
            }
        }
    }
}

extension ManagementError {
    /// One line for people, naming the dispatcher and what to do.
    func explanation(for client: ManagementClient) -> String {
        let url = client.baseURL.absoluteString
        switch self.code {
        case .connectionFailed:
            return "cannot connect to the dispatcher at \(url): \(Self.networkReason(self.cause))"
        case .unauthorized:
            return "the dispatcher at \(url) needs a management token, and none was sent "
                + "(set ManagementToken in the configuration or DISPATCH_CLOUD_MANAGEMENT_TOKEN)"
        case .forbidden:
            return "the dispatcher at \(url) refused the management token: it is wrong, or the dispatcher has no "
                + "ManagementToken configured"
        default:
            return "\(url): \(self.message)"
        }
    }

    /// Why the connection failed, in words: the transport's message without the request it names.
    private static func networkReason(_ cause: (any Error)?) -> String {
        guard let error = cause as? ArvadosAPIError else { return cause.map { "\($0)" } ?? "unknown error" }
        let message = error.message
        guard let separator = message.range(of: ": ") else { return message }
        return String(message[separator.upperBound...])
    }
}

/// `dispatch-cloud instances`: list the dispatcher's instances, or change them.
struct InstancesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instances",
        abstract: "List the dispatcher's cloud instances (like `arvados-server instance list`), or hold, drain, "
            + "run or kill some.",
        discussion: """
            Talks to the dispatcher's management API: --url, else $DISPATCH_CLOUD_URL, else \
            Services.DispatchCloud.InternalURLs of the configuration; the token is $DISPATCH_CLOUD_MANAGEMENT_TOKEN, \
            else ManagementToken.
            """,
        subcommands: [
            InstancesListCommand.self, InstanceHoldCommand.self, InstanceDrainCommand.self, InstanceRunCommand.self,
            InstanceKillCommand.self,
        ],
        defaultSubcommand: InstancesListCommand.self
    )
}

/// `dispatch-cloud instances list [--header]` (the default): Arvados's tab-separated columns.
struct InstancesListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Print one tab-separated line per instance: instance, address, state, idle-behavior, config-type, "
            + "provider-type, price, running-containers."
    )

    @OptionGroup var management: ManagementOptions

    @Flag(help: "Print column headings first.")
    var header = false

    @Flag(help: "Print the instances as one compact JSON array (the management API's fields).")
    var json = false

    func run() async throws {
        let clients = try self.management.clients()
        var lines: [String] = []
        var all: [ManagedInstance] = []
        if self.header && !self.json {
            lines.append(
                "instance\taddress\tstate\tidle-behavior\tconfig-type\tprovider-type\tprice\trunning-containers"
            )
        }
        for client in clients {
            let instances: [ManagedInstance]
            do {
                instances = try await client.instances()
            } catch {
                printToStandardError("error: \(error.explanation(for: client))")
                throw ExitCode(1)
            }
            all.append(contentsOf: instances)
            lines.append(contentsOf: instances.map(Self.line))
        }
        if self.json {
            print(try CompactJSON.string(all))
        } else if !lines.isEmpty {
            print(lines.joined(separator: "\n"))
        }
    }

    static func line(_ instance: ManagedInstance) -> String {
        let running = instance.runningContainerUUIDs.map(\.rawValue).joined(separator: ",")
        return [
            instance.instance?.rawValue ?? "-",
            instance.address.isEmpty ? "-" : instance.address,
            instance.workerState.rawValue,
            instance.idleBehavior.rawValue,
            instance.arvadosInstanceType.rawValue,
            instance.providerInstanceType,
            String(format: "%f", instance.price),
            running.isEmpty ? "-" : running,
        ].joined(separator: "\t")
    }
}

/// What an `instances` action does to one instance through one client.
protocol InstanceAction: AsyncParsableCommand {
    var management: ManagementOptions { get }
    var ids: [String] { get }
    func perform(_ client: ManagementClient, _ id: InstanceID) async throws(ManagementError)
}

extension InstanceAction {
    /// Tries every dispatcher for every ID until one answers 200, printing `<id>: <status> (<host>)` on standard
    /// error as Arvados does; fails with status 1 if an ID never succeeded.
    func validate() throws {
        guard !self.ids.isEmpty else { throw ValidationError("give at least one instance ID") }
    }

    func run() async throws {
        let clients = try self.management.clients()
        var pending = self.ids
        for client in clients {
            let host = client.baseURL.host.map { host in client.baseURL.port.map { "\(host):\($0)" } ?? host } ?? "?"
            for id in pending {
                do {
                    try await self.perform(client, InstanceID(rawValue: id))
                    printToStandardError("\(id): 200 OK (\(host))")
                    pending.removeAll { $0 == id }
                } catch {
                    switch error.code {
                    case .connectionFailed, .unauthorized, .forbidden:
                        printToStandardError("\(id): error: \(error.explanation(for: client))")
                    default:
                        printToStandardError("\(id): \(error.code.httpStatus) \(error.message) (\(host))")
                    }
                }
            }
        }
        if !pending.isEmpty { throw ExitCode(1) }
    }
}

/// `dispatch-cloud instances hold ID…`.
struct InstanceHoldCommand: InstanceAction {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Stop giving containers to the instances and keep them until run or kill."
    )
    @OptionGroup var management: ManagementOptions
    @Argument(help: "Instance IDs.") var ids: [String] = []

    func perform(_ client: ManagementClient, _ id: InstanceID) async throws(ManagementError) {
        try await client.setIdleBehavior(id, .hold)
    }
}

/// `dispatch-cloud instances drain ID…`.
struct InstanceDrainCommand: InstanceAction {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Stop giving containers to the instances and shut each down once it is idle."
    )
    @OptionGroup var management: ManagementOptions
    @Argument(help: "Instance IDs.") var ids: [String] = []

    func perform(_ client: ManagementClient, _ id: InstanceID) async throws(ManagementError) {
        try await client.setIdleBehavior(id, .drain)
    }
}

/// `dispatch-cloud instances run ID…`.
struct InstanceRunCommand: InstanceAction {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Return held or draining instances to normal service."
    )
    @OptionGroup var management: ManagementOptions
    @Argument(help: "Instance IDs.") var ids: [String] = []

    func perform(_ client: ManagementClient, _ id: InstanceID) async throws(ManagementError) {
        try await client.setIdleBehavior(id, .run)
    }
}

/// `dispatch-cloud instances kill ID… [--reason R]`.
struct InstanceKillCommand: InstanceAction {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "Destroy the instances now, abandoning whatever runs on them."
    )
    @OptionGroup var management: ManagementOptions
    @Option(help: "Why, for the dispatcher's logs.") var reason = ""
    @Argument(help: "Instance IDs.") var ids: [String] = []

    func perform(_ client: ManagementClient, _ id: InstanceID) async throws(ManagementError) {
        try await client.killInstance(id, reason: self.reason)
    }
}

/// `dispatch-cloud containers kill UUID [--reason R]`: stop a container's runner through the management API.
struct ContainerKillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "Stop a running container now through the dispatcher's management API (SIGTERM to its runner).",
        discussion: "Unlike cancel, this does not change the container's state in the API; the runner finalizes it."
    )

    @OptionGroup var management: ManagementOptions

    @Option(help: "Why, for the dispatcher's logs.")
    var reason = ""

    @Argument(help: "The container UUID.")
    var uuid: String

    func run() async throws {
        var failure: String?
        for client in try self.management.clients() {
            do {
                try await client.killContainer(ContainerUUID(rawValue: self.uuid), reason: self.reason)
                printToStandardError("\(self.uuid): 200 OK (\(client.baseURL.absoluteString))")
                return
            } catch {
                failure =
                    error.code == .notFound
                    ? "\(self.uuid): container not found on any instance of \(client.baseURL.absoluteString)"
                    : error.explanation(for: client)
            }
        }
        printToStandardError("error: \(failure ?? "no dispatcher answered")")
        throw ExitCode(1)
    }
}
