public import Logging
import Synchronization

/// Every line logged through its ``logger(label:)``, kept in memory, for tests that count or read log lines.
public final class LogLines: Sendable {
    /// One logged line.
    public struct Line: Sendable, CustomStringConvertible {
        /// The level's name: `"info"`, `"warning"`…
        public var level: String
        public var message: String
        public var metadata: [String: String]

        public var description: String { "\(self.level): \(self.message) \(self.metadata)" }
    }

    private let lines = Mutex<[Line]>([])

    public init() {}

    /// The lines logged so far, oldest first.
    public var all: [Line] { self.lines.withLock { $0 } }

    /// A logger at `trace` level whose every line is kept here.
    public func logger(label: String = "test") -> Logger {
        var logger = Logger(label: label) { _ in Handler(lines: self) }
        logger.logLevel = .trace
        return logger
    }

    fileprivate func append(_ line: Line) { self.lines.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let lines: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var metadata: [String: String] = [:]
            for (key, value) in self.metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
                metadata[key] = "\(value)"
            }
            self.lines.append(Line(level: event.level.rawValue, message: "\(event.message)", metadata: metadata))
        }
    }
}
