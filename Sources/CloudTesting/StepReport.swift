import Foundation
import Synchronization

/// Prints each step as it ends, with ✔ or ✘ and its duration, and counts them.
final class StepReport: Sendable {
    private let console: CloudTest.Console
    private let counts = Mutex((passed: 0, failed: 0))
    private let started = ContinuousClock.now

    init(console: CloudTest.Console) {
        self.console = console
    }

    var passed: Int { self.counts.withLock { $0.passed } }
    var failed: Int { self.counts.withLock { $0.failed } }
    var elapsed: Duration { ContinuousClock.now - self.started }

    /// Runs a step that yields a value and a detail line; returns the value, or `nil` if it failed.
    func step<T>(_ name: String, _ body: () async throws -> (T, String)) async -> T? {
        let start = ContinuousClock.now
        do {
            let (value, detail) = try await body()
            self.finish(name, passed: true, since: start, detail: detail)
            return value
        } catch {
            self.finish(name, passed: false, since: start, detail: "\(error)")
            return nil
        }
    }

    /// Runs a step that yields only a detail line; returns whether it passed.
    @discardableResult
    func step(_ name: String, _ body: () async throws -> String) async -> Bool {
        await self.step(name) { () async throws -> (Bool, String) in (true, try await body()) } ?? false
    }

    private func finish(_ name: String, passed: Bool, since start: ContinuousClock.Instant, detail: String) {
        self.counts.withLock { counts in
            if passed {
                counts.passed += 1
            } else {
                counts.failed += 1
            }
        }
        let mark = passed ? "✔" : "✘"
        let padded = name.padding(toLength: 30, withPad: " ", startingAt: 0)
        self.console.say("\(mark) \(padded) \(Self.format(ContinuousClock.now - start).leftPadded(to: 9))  \(detail)")
    }

    /// `1.234s`.
    static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)s"
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        self.count >= width ? self : String(repeating: " ", count: width - self.count) + self
    }
}

extension CloudTest {
    /// Where a run writes its lines, and how it waits for the operator (`--pause-before-destroy`).
    public struct Console: Sendable {
        /// Writes one line.
        public var say: @Sendable (String) -> Void
        /// Prompts and waits until the operator presses Enter.
        public var waitForEnter: @Sendable () -> Void

        public init(say: @escaping @Sendable (String) -> Void, waitForEnter: @escaping @Sendable () -> Void) {
            self.say = say
            self.waitForEnter = waitForEnter
        }

        /// Standard output, one unbuffered write a line (so steps show as they end); the prompt on standard
        /// error and the answer read from standard input.
        public static let standard = Console(
            say: { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) },
            waitForEnter: {
                FileHandle.standardError.write(Data("Press Enter to continue: ".utf8))
                _ = readLine(strippingNewline: true)
            }
        )
    }
}
