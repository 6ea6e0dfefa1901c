public import Logging
public import ServiceLifecycle

/// Runs `services` under one `ServiceGroup` while `body` runs, then shuts them down gracefully and waits for
/// them, also when `body` throws.
///
/// The graceful shutdown comes before the task group is cancelled: cancelling a server that has just accepted a
/// connection (a runner still retrying, say) traps in NIO's async writer.
public func withRunningServices<T: Sendable>(
    _ services: [any Service],
    logger: Logger,
    _ body: () async throws -> T
) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: services, logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        defer { tasks.cancelAll() }
        let result: T
        do {
            result = try await body()
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return result
    }
}
