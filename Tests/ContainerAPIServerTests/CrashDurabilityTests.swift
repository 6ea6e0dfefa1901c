import DispatchModel
import DispatchTestSupport
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
    private let process: SpawnedProcess
    /// The read end of the pipe carrying the child's standard output.
    private let output: Int32

    init(directory: String) throws {
        var environment = ProcessInfo.processInfo.environment
        environment[CrashDurabilityTests.childDirectoryVariable] = directory
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw ContainerAPIError(.internal, "pipe failed: errno \(errno)") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        defer { close(fds[1]) }
        do {
            self.process = try SpawnedProcess.spawn(
                URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path,
                ["--testing-library", "swift-testing", "--filter", "crashChildServer"],
                environment: environment,
                stdout: .descriptor(fds[1])
            )
        } catch {
            close(fds[0])
            throw error
        }
        self.output = fds[0]
    }

    deinit { close(self.output) }

    /// Reads the child's output until it reports its port, on a thread of its own (blocking reads must not
    /// hold one of the few cooperative threads).
    func port() async throws -> Int {
        let fd = self.output
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
            Thread {
                var text = ""
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = read(fd, &buffer, buffer.count)
                    if count < 0 && errno == EINTR { continue }
                    if count <= 0 {
                        continuation.resume(
                            throwing: ContainerAPIError(.internal, "The child server exited before listening: \(text)")
                        )
                        return
                    }
                    text += String(decoding: buffer[0..<count], as: UTF8.self)
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
        self.process.signal(SIGKILL)
        guard case .signalled(let signal) = await self.process.wait() else {
            throw ContainerAPIError(.internal, "The child server exited instead of being killed")
        }
        return signal
    }

    func kill() {
        self.process.signal(SIGKILL)
    }
}
#endif
