import ArgumentParser
import DispatchCloud
import DispatchConfig
import Foundation
import Logging
import ManagementAPI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `dispatch-cloud serve`: run the dispatcher daemon.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the dispatcher daemon.",
        discussion: """
            Runs, as one process: the embedded container API (when DispatchCloud.EmbeddedContainerAPI is true), \
            the container queue, the worker pool over Containers.CloudVMs.Driver, and the scheduler. Every \
            listen address is checked before any of them starts. SIGTERM or SIGINT stops it gracefully (and is \
            logged): no new instances, and running containers keep running on their instances, to be adopted by \
            the next start. A second dispatcher on the same DispatchCloud.DataDirectory refuses to start. Exit \
            status: 0 after a graceful stop, 1 on a runtime failure, when the data directory is in use or a listen \
            address is taken, 2 for a usage or configuration error.
            """
    )

    @OptionGroup var configOptions: ConfigOptions

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp("trace, debug, info, notice, warning or error.", valueName: "level")
    )
    var logLevel: String = "info"

    @Option(
        name: .customLong("log-format"),
        help: ArgumentHelp(
            "json (one object per line, as Arvados logs) or text; json unless standard error is a terminal.",
            valueName: "format"
        )
    )
    var logFormat: LogFormat?

    func validate() throws {
        guard Logger.Level(rawValue: self.logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error")
        }
    }

    func run() async throws {
        let config = try self.configOptions.load().config
        let format = self.logFormat ?? (isatty(STDERR_FILENO) == 1 ? .text : .json)
        let logger = LogSetup.bootstrap(level: Logger.Level(rawValue: self.logLevel) ?? .info, format: format)
        if let warning = Dispatcher.configurationFileWarning(path: self.configOptions.resolvedPath) {
            logger.warning("\(warning)")
        }
        let metrics = MetricsRegistry(version: DispatchCloudVersion.current)
        metrics.bootstrap()
        if let file = Dispatcher.configurationFileIdentity(path: self.configOptions.resolvedPath) {
            metrics.setConfig(sha256: file.sha256, sourceTimestamp: file.modified)
        }
        let dispatcher: Dispatcher
        do {
            dispatcher = try Dispatcher(config: config, drivers: .builtIn, logger: logger, metrics: metrics)
        } catch {
            printToStandardError("error: \(error.message)")
            throw ExitCode(error.code == .configuration ? 2 : 1)
        }
        do {
            try await dispatcher.run()
        } catch let error as DispatcherError {
            throw runtimeFailure(error.message)
        }
    }
}

/// How `serve` writes its log lines.
enum LogFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case json
    case text
}

enum LogSetup {
    /// Sends every log line to standard error, at `level` and above, in `format`; returns the dispatcher's logger.
    static func bootstrap(level: Logger.Level, format: LogFormat = .text) -> Logger {
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        var logger = Logger(label: "dispatch-cloud")
        logger.logLevel = level
        return logger
    }
}

/// One compact JSON object per log line on standard error, as Arvados's services log: `time` (RFC 3339, UTC,
/// microseconds), `level`, `msg`, then the metadata (nested metadata flattened with dots).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("time", Self.timestamp()),
            ("level", event.level.rawValue),
            ("msg", "\(event.message)"),
        ]
        var merged = self.metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            Self.flatten(key, value, into: &fields)
        }
        if event.level >= .error, merged["source"] == nil {
            fields.append(("source", "\(event.file):\(event.line)"))
        }
        let line = "{" + fields.map { "\(Self.quote($0.0)):\(Self.quote($0.1))" }.joined(separator: ",") + "}\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func flatten(_ key: String, _ value: Logger.Metadata.Value, into fields: inout [(String, String)]) {
        switch value {
        case .dictionary(let dictionary):
            for (inner, innerValue) in dictionary.sorted(by: { $0.key < $1.key }) {
                Self.flatten("\(key).\(inner)", innerValue, into: &fields)
            }
        default:
            fields.append((key, value.description))
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped; slashes left alone.
    static func quote(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                out +=
                    "\\u" + String(repeating: "0", count: 4 - String(c.value, radix: 16).count)
                    + String(c.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func timestamp() -> String {
        let now = Date().timeIntervalSince1970
        let seconds = now.rounded(.down)
        let micros = min(999_999, Int((now - seconds) * 1_000_000))
        let whole = Date(timeIntervalSince1970: seconds).formatted(.iso8601)
        let digits = String(micros)
        return "\(whole.dropLast()).\(String(repeating: "0", count: 6 - digits.count))\(digits)Z"
    }
}
