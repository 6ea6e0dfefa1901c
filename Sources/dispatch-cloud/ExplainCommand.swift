import ArgumentParser
import DispatchModel
import ManagementAPI

/// `dispatch-cloud explain UUID|INSTANCE [--json]`: the decision journal's timeline of a container or an
/// instance and, for a waiting container, what stops it and what would let it start.
struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Print the timeline of a container or instance, and why a waiting container waits.",
        discussion: """
            A container UUID (xxxxx-dz642-xxxxxxxxxxxxxxx) is explained as a container; anything else as an \
            instance ID. Asks every dispatcher named (see instances) until one knows the subject.
            """
    )

    @OptionGroup var management: ManagementOptions

    @Argument(help: ArgumentHelp("The container UUID or instance ID.", valueName: "UUID|INSTANCE"))
    var subject: String

    @Flag(help: "Print the management API's JSON answer.")
    var json = false

    /// Whether `text` is shaped like an Arvados container UUID.
    static func isContainerUUID(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0].count == 5 && parts[1] == "dz642" && parts[2].count == 15
            && parts.allSatisfy { $0.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) } }
    }

    func validate() throws {
        guard !self.subject.isEmpty else { throw ValidationError("give a container UUID or an instance ID") }
    }

    func run() async throws {
        let subject: Explanation.Subject =
            Self.isContainerUUID(self.subject)
            ? .container(ContainerUUID(rawValue: self.subject)) : .instance(InstanceID(rawValue: self.subject))
        var lastError: String?
        for client in try self.management.clients() {
            let explanation: Explanation
            do {
                explanation = try await client.explain(subject)
            } catch {
                lastError = error.code == .notFound ? error.message : error.explanation(for: client)
                continue
            }
            if self.json {
                print(try CompactJSON.string(explanation))
            } else {
                print(explanation.text, terminator: "")
            }
            return
        }
        printToStandardError("error: \(lastError ?? "no dispatcher answered")")
        throw ExitCode(1)
    }
}

/// `dispatch-cloud quarantine [list|lift TYPE]`: instance types held after failed boots.
struct QuarantineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine",
        abstract: "List or lift boot-failure quarantines of instance types.",
        subcommands: [QuarantineListCommand.self, QuarantineLiftCommand.self],
        defaultSubcommand: QuarantineListCommand.self
    )
}

/// `dispatch-cloud quarantine list`: one line per quarantined type: type, image, until, level.
struct QuarantineListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Print one tab-separated line per quarantined type: type, image, until, level."
    )

    @OptionGroup var management: ManagementOptions

    @Flag(help: "Print the management API's JSON list.")
    var json = false

    func run() async throws {
        var all: [QuarantineEntry] = []
        for client in try self.management.clients() {
            do {
                all += try await client.quarantined()
            } catch {
                printToStandardError("error: \(error.explanation(for: client))")
                throw ExitCode(1)
            }
        }
        if self.json {
            print(try CompactJSON.string(all))
        } else {
            for entry in all {
                print("\(entry.instanceType)\t\(entry.imageID)\t\(entry.until.rfc3339)\t\(entry.level)")
            }
        }
    }
}

/// `dispatch-cloud quarantine lift TYPE`: creates of the type resume now.
struct QuarantineLiftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lift",
        abstract: "Lift an instance type's quarantine now."
    )

    @OptionGroup var management: ManagementOptions

    @Argument(help: ArgumentHelp("The instance type (its InstanceTypes name).", valueName: "TYPE"))
    var type: String

    func run() async throws {
        var lastError: String?
        for client in try self.management.clients() {
            do {
                try await client.liftQuarantine(InstanceTypeName(rawValue: self.type))
                printToStandardError("\(self.type): quarantine lifted")
                return
            } catch {
                lastError = error.code == .notFound ? error.message : error.explanation(for: client)
            }
        }
        printToStandardError("error: \(lastError ?? "no dispatcher answered")")
        throw ExitCode(1)
    }
}
