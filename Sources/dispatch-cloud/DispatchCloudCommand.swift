import ArgumentParser
import DispatchCloud
import Foundation

/// `dispatch-cloud`: the dispatcher daemon and its admin command line.
///
/// Exit status: 0 on success, 1 for a runtime failure (an API that cannot be reached or refuses), 2 for a usage
/// or configuration error (the message names the option, variable or key; the usage of the subcommand follows).
@main
struct DispatchCloudCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch-cloud",
        abstract: "Dispatch batch containers onto cloud VMs (an Arvados-compatible cloud dispatcher).",
        discussion: """
            Reads an Arvados-style cluster configuration (Clusters.<id>.Containers.CloudVMs.*, InstanceTypes, \
            …). The configuration file is --config, else $DISPATCH_CLOUD_CONFIG, else the first of \
            ~/.config/dispatch-cloud/config.yml and /etc/arvados/config.yml that exists. Client commands \
            (submit, containers, logs, cancel) use ARVADOS_API_HOST (host:port means https; http:// or https:// \
            may be written) and ARVADOS_API_TOKEN, from the environment or ~/.config/dispatch-cloud/settings.conf \
            (NAME=value lines, as Arvados's ~/.config/arvados/settings.conf, which is read too), else the \
            configuration's Services.Controller.ExternalURL and SystemRootToken. Exit status: 0 on success, 1 for \
            a runtime failure, 2 for a usage or configuration error.
            """,
        version: DispatchCloudVersion.current,
        subcommands: [
            CheckConfigCommand.self,
            CloudTestCommand.self,
            ServeCommand.self,
            DemoCommand.self,
            SimulateCommand.self,
            SubmitCommand.self,
            ContainersCommand.self,
            LogsCommand.self,
            CancelCommand.self,
            InstancesCommand.self,
            ExplainCommand.self,
            QuarantineCommand.self,
            CostsCommand.self,
            TLSCommand.self,
        ]
    )

    /// ArgumentParser's entry point, with this tool's exit statuses: usage errors exit 2 (not 64), a bare
    /// `dispatch-cloud` prints the help and exits 2, and a mistyped subcommand gets a suggestion.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.isEmpty {
            printToStandardError(Self.helpMessage())
            Self.exit(withError: ExitCode(2))
        }
        if let message = CommandSuggestion.unknownSubcommand(in: arguments, root: Self.self) {
            printToStandardError(message)
            Self.exit(withError: ExitCode(2))
        }
        do {
            var command = try Self.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if Self.exitCode(for: error) == .validationFailure {
                printToStandardError(Self.fullMessage(for: error))
                Self.exit(withError: ExitCode(2))
            }
            Self.exit(withError: error)
        }
    }
}

/// Suggestions for a mistyped subcommand, by edit distance.
enum CommandSuggestion {
    /// The message for the first word of `arguments` that is not a subcommand where one is expected; nil when
    /// every word names one (or the parser should judge, such as an argument of a command that takes them).
    static func unknownSubcommand(in arguments: [String], root: any ParsableCommand.Type) -> String? {
        var command = root
        var path = [root.configuration.commandName ?? "dispatch-cloud"]
        for word in arguments {
            if word.hasPrefix("-") { return nil }
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty else { return nil }
            if word == "help" && path.count == 1 { return nil }
            if let next = subcommands.first(where: { Self.names(of: $0).contains(word) }) {
                command = next
                path.append(word)
                continue
            }
            let names = subcommands.flatMap(Self.names(of:))
            let close = Self.closest(to: word, among: names)
            // A command with a default subcommand may take this word as an argument; only a near miss is a typo.
            if command.configuration.defaultSubcommand != nil && close == nil { return nil }
            var message = "error: unknown command '\(word)' for '\(path.joined(separator: " "))'"
            if let close { message += ". Did you mean '\(close)'?" }
            message += "\nCommands: \(names.joined(separator: ", "))"
            message += "\nSee '\(path.joined(separator: " ")) --help'."
            return message
        }
        return nil
    }

    static func names(of command: any ParsableCommand.Type) -> [String] {
        [command.configuration.commandName ?? ""] + command.configuration.aliases
    }

    /// The name nearest to `word`, if it is within a third of the word's length (at least 1, at most 3 edits).
    static func closest(to word: String, among names: [String]) -> String? {
        let limit = min(3, max(1, word.count / 3))
        let scored = names.map { ($0, self.distance(word.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= limit else {
            // A prefix of a name ("cont") also counts.
            return names.first { $0.hasPrefix(word) && word.count >= 3 }
        }
        return best.0
    }

    /// Levenshtein distance, with transpositions counted as one edit.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
