import DispatchTestSupport
import Testing

/// Runs a suite with one `moto_server` on 127.0.0.1, started before its first test and stopped after its last.
struct MotoServerTrait: SuiteTrait, TestScoping {
    /// The server of the suite being run.
    @TaskLocal static var current: MotoServer?

    var isRecursive: Bool { false }

    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try await MotoServer.start()
        do {
            try await Self.$current.withValue(server) { try await function() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// The current suite's server; fails the test when there is none.
    static func server(sourceLocation: SourceLocation = #_sourceLocation) throws -> MotoServer {
        try #require(
            Self.current,
            "no moto_server: the suite lacks the .motoServer trait",
            sourceLocation: sourceLocation
        )
    }
}

extension Trait where Self == MotoServerTrait {
    /// Starts one `moto_server` for the suite.
    static var motoServer: Self { MotoServerTrait() }
}

/// Why moto tests are skipped when they are.
let motoMissing: Comment =
    "moto_server is not installed: pip3 install --user 'moto[server]' (or scripts/bootstrap.sh with CI=true)"
