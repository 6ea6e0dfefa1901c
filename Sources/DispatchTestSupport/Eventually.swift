/// Waits for a condition that another process makes true, checking every `interval` up to `timeout`.
///
/// For state owned by a separate process (a runner, a server), where there is no event to await. Returns the
/// first non-nil value of `probe`, or `nil` on timeout.
public func eventually<T: Sendable>(
    timeout: Duration = .seconds(20),
    interval: Duration = .milliseconds(50),
    _ probe: () async throws -> T?
) async rethrows -> T? {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = try await probe() { return value }
        if ContinuousClock.now >= deadline { return nil }
        try? await Task.sleep(for: interval)
    }
}
