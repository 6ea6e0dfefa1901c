import ArvadosAPI

/// Numbers from the container record, used only in forms that cannot overflow or trap.
extension ContainerSupervisor {
    /// The longest `max_run_time` the watchdog arms, about a century: no container reaches a longer limit, and
    /// `Task.sleep` traps on a duration whose nanoseconds overflow Int64 (about 292 years).
    public static let longestMaxRunTime = 100 * 365 * 24 * 3600

    /// How long the watchdog waits before stopping a container whose `max_run_time` is `seconds`; `nil` for no
    /// limit (0, negative, or beyond ``longestMaxRunTime``).
    public static func watchdogDelay(maxRunTime seconds: Int) -> Duration? {
        guard seconds > 0, seconds <= Self.longestMaxRunTime else { return nil }
        return .seconds(seconds)
    }

    /// Why a request failed, with a hint when the cause is a likely mistake in `ARVADOS_API_HOST`.
    static func explain(_ error: ArvadosAPIError) -> String {
        let message = error.message
        if message.contains("handshakeFailed") || message.contains("WRONG_VERSION_NUMBER") {
            return "TLS handshake failed (\(message)); if the API serves plain HTTP, give ARVADOS_API_HOST as http://…"
        }
        return message
    }
}
