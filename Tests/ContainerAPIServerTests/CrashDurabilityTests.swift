import DispatchModel
import DispatchTestSupport
import Foundation
import Logging
import NIOHTTP1
import ServiceLifecycle
import Synchronization
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

    @Test("Every create acknowledged before kill -9 in a burst of 1,000 is there exactly once after a restart")
    func killNineDuringCreateBurst() async throws {
        let directory = LiveServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let child = try ChildServer(directory: directory)
        defer { child.kill() }
        let server = LiveServer(port: try await child.port(), dataDirectory: directory)
        let burst = CreateBurst(total: 1000, killAfter: 500)

        let acknowledged = try await withThrowingTaskGroup(of: [JSONValue].self) { group in
            for _ in 0..<CreateBurst.inFlight {
                group.addTask {
                    var acknowledged: [JSONValue] = []
                    while let index = burst.nextIndex() {
                        let response: APIResponse
                        do {
                            response = try await server.createContainer(
                                token: TestTokens.alice,
                                priority: index % 1000 + 1,
                                extra: [
                                    "environment": .object([CreateBurst.markerVariable: .string("create-\(index)")])
                                ]
                            )
                        } catch  where burst.killed {
                            // In flight when the server died: never acknowledged, so it may or may not exist.
                            continue
                        }
                        guard response.status == 200 else {
                            throw ContainerAPIError(
                                .internal,
                                "Create \(index) answered \(response.status): \(response.errors)"
                            )
                        }
                        acknowledged.append(response.json)
                        if burst.acknowledge() {
                            child.killNine()
                        }
                    }
                    return acknowledged
                }
            }
            var all: [JSONValue] = []
            for try await lane in group {
                all += lane
            }
            return all
        }
        #expect(try await child.waitForSignal() == SIGKILL)
        #expect(acknowledged.count >= burst.killAfter)
        #expect(burst.issued < burst.total)

        let found = try await LiveServer.with(dataDirectory: directory) { server in
            try await server.allContainers(select: CreateBurst.checkedAttributes)
        }
        var byUUID: [String: JSONValue] = [:]
        var markerCounts: [String: Int] = [:]
        for item in found {
            byUUID[item.uuid] = item
            markerCounts[item["environment"]?[CreateBurst.markerVariable]?.stringValue ?? "", default: 0] += 1
        }
        #expect(markerCounts.filter { $0.value > 1 }.isEmpty, "A create was stored more than once")
        #expect(markerCounts[""] == nil, "A container that no create of the burst made")
        #expect(found.count <= burst.issued)
        for created in acknowledged {
            guard let item = byUUID[created.uuid] else {
                Issue.record("The acknowledged create \(created.uuid) is missing after the restart")
                continue
            }
            for name in CreateBurst.checkedAttributes {
                #expect(item[name] == created[name], "\(name) of \(created.uuid)")
            }
        }
        print(
            "kill -9 during a burst of \(burst.total) creates: \(acknowledged.count) acknowledged,"
                + " \(burst.inFlightAtKill) in flight at the kill, \(found.count) found after the restart"
        )
    }
    #endif
}

#if os(Linux)
/// The shared count of a burst of creates: hands out create numbers until the server is killed, and picks the
/// acknowledgement after which the server must be killed.
final class CreateBurst: Sendable {
    /// The environment variable whose value marks each create, so that a create stored twice shows.
    static let markerVariable = "BURST_MARKER"
    /// How many creates are in flight at once.
    static let inFlight = 8
    /// The attributes compared between the create's answer and the container found after the restart.
    static let checkedAttributes = [
        "uuid", "etag", "owner_uuid", "state", "priority", "environment", "command", "container_image",
        "runtime_constraints", "created_at", "modified_at",
    ]

    private struct State {
        var issued = 0
        var acknowledged = 0
        var killed = false
        var inFlightAtKill = 0
    }

    let total: Int
    let killAfter: Int
    private let state = Mutex(State())

    init(total: Int, killAfter: Int) {
        self.total = total
        self.killAfter = killAfter
    }

    /// The number of the next create to send, or `nil` once all are sent or the server is killed.
    func nextIndex() -> Int? {
        self.state.withLock { state -> Int? in
            guard !state.killed, state.issued < self.total else { return nil }
            defer { state.issued += 1 }
            return state.issued
        }
    }

    /// Counts an acknowledged create; true for exactly the one after which the server must be killed.
    func acknowledge() -> Bool {
        self.state.withLock { state -> Bool in
            state.acknowledged += 1
            guard !state.killed, state.acknowledged >= self.killAfter else { return false }
            state.killed = true
            state.inFlightAtKill = state.issued - state.acknowledged
            return true
        }
    }

    var killed: Bool { self.state.withLock { $0.killed } }
    var issued: Int { self.state.withLock { $0.issued } }
    /// Creates sent and not yet answered when the kill was decided.
    var inFlightAtKill: Int { self.state.withLock { $0.inFlightAtKill } }
}

extension LiveServer {
    /// Every container, with the attributes in `select`, paged by UUID as the dispatcher pages.
    func allContainers(select: [String]) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var filters: [JSONValue] = []
        while true {
            let query = try LiveServer.query([
                "filters": .array(filters),
                "order": .array([.string("uuid")]),
                "limit": .int(1000),
                "count": .string("none"),
                "select": .array(select.map(JSONValue.string)),
            ])
            let response = try await self.call(.GET, "/arvados/v1/containers\(query)")
            guard response.status == 200 else {
                throw ContainerAPIError(.internal, "Listing answered \(response.status): \(response.errors)")
            }
            let page = response.json.items
            guard let last = page.last else { return items }
            items += page
            filters = [.array([.string("uuid"), .string(">"), .string(last.uuid)])]
        }
    }
}

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
        self.killNine()
        return try await self.waitForSignal()
    }

    /// Sends SIGKILL without waiting; ``waitForSignal()`` then reaps the child.
    func killNine() {
        self.process.signal(SIGKILL)
    }

    /// Waits for the child to end; returns the signal that ended it, or throws if it exited by itself.
    func waitForSignal() async throws -> Int32 {
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
