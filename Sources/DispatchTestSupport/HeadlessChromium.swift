public import DispatchModel
public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Headless Chromium driven over the DevTools protocol through `--remote-debugging-pipe` (no debugging port:
/// commands go through descriptors 3 and 4, as NUL-terminated JSON).
///
/// For browser tests of pages served on 127.0.0.1. Every command is bounded by ``commandTimeout``; ``close()``
/// kills the browser and its children. Start it with ``launch(executable:userDataDirectory:)``, attach to the one
/// page with ``openPage()``, then navigate and evaluate JavaScript in it.
public final class HeadlessChromium: Sendable {
    /// The Debian package's binary, if installed.
    public static let defaultExecutable = "/usr/bin/chromium"

    /// Whether a Chromium binary is available here.
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: Self.defaultExecutable) }

    public let commandTimeout: Duration
    private let process: SpawnedProcess
    private let toBrowser: Int32
    private let connection: Connection

    private init(process: SpawnedProcess, toBrowser: Int32, connection: Connection, commandTimeout: Duration) {
        self.process = process
        self.toBrowser = toBrowser
        self.connection = connection
        self.commandTimeout = commandTimeout
    }

    /// Starts the browser with a private profile in `userDataDirectory`, a 1280×900 window and no network
    /// features that reach outside (no sync, no component updates, no metrics).
    public static func launch(
        executable: String = HeadlessChromium.defaultExecutable,
        userDataDirectory: String,
        logFile: String,
        commandTimeout: Duration = .seconds(30)
    ) throws -> HeadlessChromium {
        var toBrowser: [Int32] = [-1, -1]
        var fromBrowser: [Int32] = [-1, -1]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else {
            throw TestSupportError("pipe failed: errno \(errno)")
        }
        for fd in toBrowser + fromBrowser { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let arguments = [
            "--headless", "--disable-gpu", "--no-sandbox", "--remote-debugging-pipe",
            "--user-data-dir=\(userDataDirectory)", "--window-size=1280,900", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--metrics-recording-only", "--disable-default-apps",
            "--disable-dev-shm-usage", "--password-store=basic", "--use-mock-keychain", "about:blank",
        ]
        let process: SpawnedProcess
        do {
            process = try SpawnedProcess.spawn(
                executable,
                arguments,
                stdout: .file(logFile),
                stderr: .file(logFile + ".stderr"),
                newProcessGroup: true,
                extraDescriptors: [toBrowser[0], fromBrowser[1]]
            )
        } catch {
            for fd in toBrowser + fromBrowser { Glibc.close(fd) }
            throw error
        }
        Glibc.close(toBrowser[0])
        Glibc.close(fromBrowser[1])
        let connection = Connection()
        let input = fromBrowser[0]
        let reader = Thread {
            connection.readLoop(fd: input)
            Glibc.close(input)
        }
        reader.name = "chromium devtools reader"
        reader.start()
        return HeadlessChromium(
            process: process,
            toBrowser: toBrowser[1],
            connection: connection,
            commandTimeout: commandTimeout
        )
    }

    /// Sends one DevTools command and returns its `result`; throws the protocol's error or on timeout.
    @discardableResult
    public func send(
        _ method: String,
        _ parameters: [String: JSONValue] = [:],
        session: String? = nil
    )
        async throws -> JSONValue
    {
        let (id, reply) = self.connection.register()
        var message: [String: JSONValue] = ["id": .int(id), "method": .string(method), "params": .object(parameters)]
        if let session { message["sessionId"] = .string(session) }
        var bytes = Array(try JSONEncoder().encode(JSONValue.object(message)))
        bytes.append(0)
        let written = bytes.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let n = write(self.toBrowser, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        guard written else {
            self.connection.fail(id, TestSupportError("cannot write to Chromium: errno \(errno)"))
            return try await reply.value
        }
        let timeout = self.commandTimeout
        let connection = self.connection
        let timer = Task {
            try await Task.sleep(for: timeout)
            connection.fail(id, TestSupportError("Chromium did not answer \(method) within \(timeout)"))
        }
        defer { timer.cancel() }
        let response = try await reply.value
        if let error = response.member("error") {
            throw TestSupportError("Chromium refused \(method): \(error)")
        }
        return response.member("result") ?? .null
    }

    /// Attaches to the browser's page and enables the domains tests use; returns the session ID.
    public func openPage() async throws -> String {
        let targets = try await self.send("Target.getTargets")
        let page = targets.member("targetInfos")?.elements?.first { $0.member("type")?.stringValue == "page" }
        guard let targetID = page?.member("targetId")?.stringValue else {
            throw TestSupportError("Chromium has no page target: \(targets)")
        }
        let attached = try await self.send(
            "Target.attachToTarget",
            ["targetId": .string(targetID), "flatten": .bool(true)]
        )
        guard let session = attached.member("sessionId")?.stringValue else {
            throw TestSupportError("Chromium did not attach to the page: \(attached)")
        }
        try await self.send("Page.enable", session: session)
        try await self.send("Runtime.enable", session: session)
        return session
    }

    /// Loads `url` in the page.
    public func navigate(_ url: String, session: String) async throws {
        let result = try await self.send("Page.navigate", ["url": .string(url)], session: session)
        if let error = result.member("errorText")?.stringValue, !error.isEmpty {
            throw TestSupportError("Chromium could not load \(url): \(error)")
        }
    }

    /// Evaluates a JavaScript expression (awaiting a promise) and returns its JSON value.
    public func evaluate(_ expression: String, session: String) async throws -> JSONValue {
        let result = try await self.send(
            "Runtime.evaluate",
            ["expression": .string(expression), "awaitPromise": .bool(true), "returnByValue": .bool(true)],
            session: session
        )
        if let exception = result.member("exceptionDetails") {
            throw TestSupportError("JavaScript threw: \(exception)")
        }
        return result.member("result")?.member("value") ?? .null
    }

    /// Evaluates `expression` every 100 ms until it is `true`, for at most `timeout`.
    ///
    /// An evaluation that fails (the page is between documents, say) counts as `false`.
    public func waitUntil(_ expression: String, session: String, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        var lastError: (any Error)?
        while true {
            do {
                if try await self.evaluate("Boolean(\(expression))", session: session) == .bool(true) { return }
                lastError = nil
            } catch {
                lastError = error
            }
            guard ContinuousClock.now < deadline else {
                let detail = lastError.map { " (last error: \($0))" } ?? ""
                throw TestSupportError("timed out after \(timeout) waiting for \(expression)\(detail)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// A PNG screenshot of the page.
    public func screenshot(session: String) async throws -> Data {
        let result = try await self.send("Page.captureScreenshot", ["format": .string("png")], session: session)
        guard let base64 = result.member("data")?.stringValue, let data = Data(base64Encoded: base64) else {
            throw TestSupportError("Chromium sent no screenshot")
        }
        return data
    }

    /// Kills the browser and everything it started, and waits for it to exit.
    public func close() async {
        self.process.signalGroup(SIGKILL)
        _ = await self.process.wait()
        Glibc.close(self.toBrowser)
        self.connection.failAll(TestSupportError("Chromium was closed"))
    }

    /// The replies in flight, by command ID, fed by the reader thread.
    private final class Connection: Sendable {
        private struct State {
            var nextID: Int64 = 1
            var waiting: [Int64: CheckedContinuation<JSONValue, any Error>] = [:]
            var early: [Int64: Result<JSONValue, any Error>] = [:]
            var closed: (any Error)?
        }

        private let state = Mutex(State())

        /// A new command ID and a task that finishes with its reply.
        func register() -> (Int64, Task<JSONValue, any Error>) {
            let id = self.state.withLock { state in
                defer { state.nextID += 1 }
                return state.nextID
            }
            let task = Task {
                try await withCheckedThrowingContinuation { continuation in
                    let ready = self.state.withLock { state -> Result<JSONValue, any Error>? in
                        if let early = state.early.removeValue(forKey: id) { return early }
                        if let closed = state.closed { return .failure(closed) }
                        state.waiting[id] = continuation
                        return nil
                    }
                    if let ready { continuation.resume(with: ready) }
                }
            }
            return (id, task)
        }

        func complete(_ id: Int64, _ result: Result<JSONValue, any Error>) {
            let waiter = self.state.withLock { state -> CheckedContinuation<JSONValue, any Error>? in
                if let waiter = state.waiting.removeValue(forKey: id) { return waiter }
                if state.early[id] == nil { state.early[id] = result }
                return nil
            }
            waiter?.resume(with: result)
        }

        func fail(_ id: Int64, _ error: any Error) {
            self.complete(id, .failure(error))
        }

        func failAll(_ error: any Error) {
            let waiters = self.state.withLock { state in
                state.closed = state.closed ?? error
                defer { state.waiting = [:] }
                return Array(state.waiting.values)
            }
            for waiter in waiters { waiter.resume(throwing: error) }
        }

        /// Reads NUL-terminated messages until the browser closes its end.
        func readLoop(fd: Int32) {
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                pending.append(contentsOf: buffer[0..<n])
                while let end = pending.firstIndex(of: 0) {
                    let message = Array(pending[..<end])
                    pending.removeSubrange(...end)
                    guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(message)),
                        case .int(let id)? = value.member("id")
                    else { continue }  // An event: tests poll instead.
                    self.complete(id, .success(value))
                }
            }
            self.failAll(TestSupportError("Chromium closed the DevTools pipe"))
        }
    }
}

extension JSONValue {
    /// The member `name` of an object.
    public func member(_ name: String) -> JSONValue? {
        if case .object(let members) = self { return members[name] }
        return nil
    }

    /// The elements of an array.
    public var elements: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }
}
