import ArgumentParser
import DispatchCloud
import DispatchConfig
import Foundation
import Logging
import ManagementAPI

/// `dispatch-cloud serve`: run the dispatcher daemon.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the dispatcher daemon.",
        discussion: """
            Runs, as one process: the embedded container API (when DispatchCloud.EmbeddedContainerAPI is true), \
            the container queue, the worker pool over Containers.CloudVMs.Driver, and the scheduler. SIGTERM or \
            SIGINT stops it gracefully: no new instances, and running containers keep running on their instances, \
            to be adopted by the next start. A second dispatcher on the same DispatchCloud.DataDirectory refuses \
            to start. Exit status: 0 after a graceful stop, 1 on a runtime failure or when the data directory is \
            in use, 2 for a configuration error.
            """
    )

    @OptionGroup var configOptions: ConfigOptions

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp("debug, info, notice, warning or error.", valueName: "level")
    )
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: self.logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error")
        }
    }

    func run() async throws {
        let config = try self.configOptions.load().config
        let logger = LogSetup.bootstrap(level: Logger.Level(rawValue: self.logLevel) ?? .info)
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
        try await dispatcher.run()
    }
}

enum LogSetup {
    /// Sends every log line to standard error, at `level` and above; returns the dispatcher's logger.
    static func bootstrap(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "dispatch-cloud")
        logger.logLevel = level
        return logger
    }
}
