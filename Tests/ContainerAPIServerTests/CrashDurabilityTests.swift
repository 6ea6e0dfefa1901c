import DispatchModel
import Foundation
import Logging
import NIOHTTP1
import ServiceLifecycle
import Testing

@testable import ContainerAPIServer

#if canImport(Glibc)
import Glibc
#endif

/// Proves that a committed change survives `kill -9` by running the server in a child process: this test binary,
/// started again with an environment variable that enables only ``crashChildServer()``.
@Suite("Container API crash durability")
struct CrashDurabilityTests {
    static let childDirectoryVariable = "CONTAINER_API_CHILD_DIRECTORY"
    static let portMarker = "CONTAINER-API-CHILD-PORT="

    @Test(
        "Server child process for the crash test",
        .enabled(if: ProcessInfo.processInfo.environment[Self.childDirectoryVariable] != nil)
    )
    func crashChildServer() async throws {
        let directory = try #require(ProcessInfo.processInfo.environment[Self.childDirectoryVariable])
        var configuration = ContainerAPIServer.Configuration(
            clusterID: "zzzzz",
            dataDirectory: directory,
            systemRootToken: TestTokens.root
        )
        configuration.submitterTokens = [TestTokens.alice, TestTokens.bob]
        var logger = Logger(label: "container-api-child")
        logger.logLevel = .warning
        let server = try ContainerAPIServer(configuration: configuration, logger: logger)
        let services = ServiceGroup(configuration: .init(services: [server], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            let port = try await server.listeningPort()
            FileHandle.standardOutput.write(Data("\(Self.portMarker)\(port)\n".utf8))
            // The parent kills this process; the bound keeps an orphaned child from running for long.
            try await Task.sleep(for: .seconds(120))
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }

    #if os(Linux)
    @Test("Every change the server acknowledged is still there after kill -9")
    func killNine() async throws {
        let directory = LiveServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let child = try ChildServer(directory: directory)
        defer { child.kill() }
        let port = try await child.port()
        let server = LiveServer(port: port, dataDirectory: directory)

        var expected: [String: (state: String, priority: Int64)] = [:]
        for priority in 1...20 {
            let uuid = try await server.createContainer(token: TestTokens.alice, priority: priority).json.uuid
            expected[uuid] = ("Queued", Int64(priority))
        }
        let lockedUUID = try #require(expected.keys.sorted().first)
        #expect(try await server.call(.POST, "/arvados/v1/containers/\(lockedUUID)/lock").status == 200)
        expected[lockedUUID]?.state = "Locked"
        let lastUUID = try #require(expected.keys.sorted().last)
        let update = try await server.call(
            .PUT,
            "/arvados/v1/containers/\(lastUUID)",
            json: .object(["container": .object(["priority": .int(999)])])
        )
        #expect(update.status == 200)
        expected[lastUUID]?.priority = 999

        let signal = try await child.killNineAndWait()
        #expect(signal == SIGKILL)

        let store = try ContainerStore(dataDirectory: directory, clusterID: "zzzzz")
        let root = Caller.systemRoot(cluster: "zzzzz")
        for (uuid, want) in expected {
            let container = try await store.container(uuid, as: root)
            #expect(container.state.rawValue == want.state)
            #expect(Int64(container.priority) == want.priority)
        }
    }
    #endif
}

#if os(Linux)
/// This test binary, running only ``CrashDurabilityTests/crashChildServer()`` on a data directory.
final class ChildServer: Sendable {
    private let process: Process
    private let output: Pipe
    private let exited: AsyncStream<Void>

    init(directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["--testing-library", "swift-testing", "--filter", "crashChildServer"]
        var environment = ProcessInfo.processInfo.environment
        environment[CrashDurabilityTests.childDirectoryVariable] = directory
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let (exited, continuation) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in continuation.finish() }
        self.exited = exited
        try process.run()
        self.process = process
        self.output = output
    }

    /// Reads the child's output until it reports its port, on a thread of its own (blocking reads must not
    /// hold one of the few cooperative threads).
    func port() async throws -> Int {
        let handle = self.output.fileHandleForReading
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
            Thread {
                var text = ""
                while true {
                    let data = handle.availableData
                    if data.isEmpty {
                        continuation.resume(
                            throwing: ContainerAPIError(.internal, "The child server exited before listening: \(text)")
                        )
                        return
                    }
                    text += String(decoding: data, as: UTF8.self)
                    if let range = text.range(of: CrashDurabilityTests.portMarker),
                        let end = text[range.upperBound...].firstIndex(of: "\n"),
                        let port = Int(text[range.upperBound..<end])
                    {
                        continuation.resume(returning: port)
                        return
                    }
                }
            }.start()
        }
    }

    /// Sends SIGKILL and waits for the child to die; returns the signal that ended it.
    func killNineAndWait() async throws -> Int32 {
        Glibc.kill(self.process.processIdentifier, SIGKILL)
        let process = self.process
        for await _ in self.exited {}
        guard process.terminationReason == .uncaughtSignal else {
            throw ContainerAPIError(.internal, "The child server exited instead of being killed")
        }
        return process.terminationStatus
    }

    func kill() {
        if self.process.isRunning {
            Glibc.kill(self.process.processIdentifier, SIGKILL)
        }
    }
}
#endif
