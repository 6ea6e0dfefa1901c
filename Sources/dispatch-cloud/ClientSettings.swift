import ArgumentParser
import Foundation

/// Where the client and admin commands find their settings, and how they say what is missing.
///
/// Variables come from the process environment first, then from `settings.conf` files written as Arvados writes
/// `~/.config/arvados/settings.conf` (`NAME=value` lines, `#` comments): `$XDG_CONFIG_HOME/dispatch-cloud/
/// settings.conf`, then Arvados's own file (only its `ARVADOS_API_*` lines). The cluster configuration is
/// `--config`, else `$DISPATCH_CLOUD_CONFIG`, else the first of `$XDG_CONFIG_HOME/dispatch-cloud/config.yml` and
/// `/etc/arvados/config.yml` that exists.
struct ClientSettings: Sendable {
    /// The merged variables: the process environment over the settings files.
    var variables: [String: String]
    /// The settings files that were read, for messages.
    var filesRead: [String]
    /// The user's configuration directory (`$XDG_CONFIG_HOME`, else `~/.config`).
    var configHome: String

    /// The variables a settings file may set.
    static let settingNames: Set<String> = [
        "ARVADOS_API_HOST", "ARVADOS_API_TOKEN", "ARVADOS_API_HOST_INSECURE", "ARVADOS_API_CA",
        "DISPATCH_CLOUD_CONFIG", "DISPATCH_CLOUD_URL", "DISPATCH_CLOUD_MANAGEMENT_TOKEN", "DISPATCH_CLOUD_CA",
    ]

    /// Settings files larger than this are ignored (they hold a few lines).
    static let maximumFileBytes = 64 << 10

    /// The settings of this process.
    static func current() -> ClientSettings {
        Self.load(environment: ProcessInfo.processInfo.environment)
    }

    /// The settings for `environment`, reading the settings files it points at.
    static func load(environment: [String: String]) -> ClientSettings {
        let configHome = Self.configHome(environment)
        var variables: [String: String] = [:]
        var filesRead: [String] = []
        // Later files fill only what earlier ones left unset.
        let files: [(path: String, names: Set<String>)] = [
            ("\(configHome)/dispatch-cloud/settings.conf", Self.settingNames),
            (
                "\(configHome)/arvados/settings.conf",
                ["ARVADOS_API_HOST", "ARVADOS_API_TOKEN", "ARVADOS_API_HOST_INSECURE"]
            ),
        ]
        for file in files {
            guard let values = Self.readSettingsFile(file.path) else { continue }
            filesRead.append(file.path)
            for (name, value) in values where file.names.contains(name) && variables[name] == nil {
                variables[name] = value
            }
        }
        for (name, value) in environment where !value.isEmpty {
            variables[name] = value
        }
        return ClientSettings(variables: variables, filesRead: filesRead, configHome: configHome)
    }

    static func configHome(_ environment: [String: String]) -> String {
        if let home = environment["XDG_CONFIG_HOME"], home.hasPrefix("/") { return home }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return "\(home)/.config"
    }

    /// The `NAME=value` lines of a settings file; nil when it cannot be read.
    static func readSettingsFile(_ path: String) -> [(String, String)]? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            attributes[.type] as? FileAttributeType == .typeRegular,
            let size = attributes[.size] as? Int, size <= Self.maximumFileBytes,
            let text = try? String(contentsOfFile: path, encoding: .utf8)
        else { return nil }
        return Self.parseSettings(text)
    }

    /// Parses `NAME=value` lines; blank lines, `#` comments and lines without `=` are skipped.
    static func parseSettings(_ text: String) -> [(String, String)] {
        text.split(whereSeparator: \.isNewline).compactMap { raw in
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { return nil }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            return (name, value)
        }
    }

    /// A non-empty variable.
    subscript(name: String) -> String? {
        self.variables[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The default configuration files, in the order they are tried.
    var defaultConfigPaths: [String] {
        ["\(self.configHome)/dispatch-cloud/config.yml", "/etc/arvados/config.yml"]
    }

    /// Where the cluster configuration comes from: an explicit `--config`, `$DISPATCH_CLOUD_CONFIG` (also from a
    /// settings file), or the first default file that exists; nil when none applies.
    func configSource(option: String?) -> ConfigSource? {
        if let option { return ConfigSource(path: option, origin: .option) }
        if let path = self["DISPATCH_CLOUD_CONFIG"] { return ConfigSource(path: path, origin: .environment) }
        if let path = self.defaultConfigPaths.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            return ConfigSource(path: path, origin: .defaultFile)
        }
        return nil
    }

    /// The sentence that tells a user how to name a configuration file, listing the defaults looked for.
    var howToNameConfig: String {
        "pass --config FILE or set DISPATCH_CLOUD_CONFIG (looked for "
            + self.defaultConfigPaths.joined(separator: " and ") + ")"
    }
}

/// A cluster configuration file and how it was chosen.
struct ConfigSource: Sendable, Equatable {
    enum Origin: Sendable, Equatable {
        /// `--config`.
        case option
        /// `$DISPATCH_CLOUD_CONFIG`.
        case environment
        /// One of the default files, found present.
        case defaultFile
    }

    var path: String
    var origin: Origin
}

/// Fails a command with a one-line message and exit status 2 (a usage or configuration error).
func usageFailure(_ message: String) -> ExitCode {
    printToStandardError("error: \(message)")
    return ExitCode(2)
}

/// Fails a command with a one-line message and exit status 1 (a runtime failure).
func runtimeFailure(_ message: String) -> ExitCode {
    printToStandardError("error: \(message)")
    return ExitCode(1)
}
