import ArvadosAPI
import DispatchConfig
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Hostile requests against a real `dispatch-cloud serve`, measured on the daemon's own process (issue 13,
/// finding 4: eight unauthenticated 120 MiB POSTs took the daemon from 66 MB to 911 MB RSS and got 400).
@Suite("Hostile requests against serve", .serialized)
struct HostileServeTests {
    @Test("Eight concurrent large unauthenticated POSTs get 401 without growing the daemon's memory")
    func concurrentLargeUnauthenticatedPosts() async throws {
        // 120 MiB each with DISPATCH_FUZZ_SCALE set, 24 MiB each in CI.
        let size = ProcessInfo.processInfo.environment["DISPATCH_FUZZ_SCALE"] == nil ? 24 << 20 : 120 << 20
        let directory = try TemporaryDirectory(prefix: "hostile-serve")
        defer { directory.remove() }
        let (cluster, configPath) = try ServeCommandTests.setUp(directory)
        let daemon = try ServeCommandTests.Daemon.start(configPath, log: directory.file("serve.log"))
        defer { daemon.process.signal(SIGKILL) }
        let client = ServeCommandTests.client(cluster)
        try #require(await eventually { try? await client.currentAuthorization() } != nil, "\(daemon.logText)")

        let before = RawHTTP.residentBytes(pid: daemon.process.pid)
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await RawHTTP.exchange(
                        port: cluster.apiPort,
                        head: "POST /arvados/v1/containers HTTP/1.1\r\nHost: localhost\r\n"
                            + "Content-Type: application/json\r\nContent-Length: \(size)\r\n\r\n",
                        bodyBytes: size,
                        timeoutSeconds: 120
                    ).status
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        let after = RawHTTP.residentBytes(pid: daemon.process.pid)
        let peak = RawHTTP.residentBytes(pid: daemon.process.pid, field: "VmHWM")
        print(
            "serve, 8 × \(size >> 20) MiB unauthenticated POSTs: RSS \(before >> 20) → \(after >> 20) MiB, peak \(peak >> 20) MiB"
        )
        #expect(statuses == Array(repeating: 401, count: 8))
        // Reading the bodies would have cost at least 8 × size; refusing them costs a few buffers.
        #expect(peak - before < 8 * size / 2, "RSS \(before >> 20) → peak \(peak >> 20) MiB")
        // The daemon still answers.
        #expect(try await client.currentAuthorization().uuid.isEmpty == false)
        daemon.process.signal(SIGTERM)
        #expect(await daemon.process.wait() == .exited(0), "\(daemon.logText)")
    }
}
