public import CloudDriver
public import DispatchModel

/// How the loopback cloud behaves: the `CloudVMs.DriverParameters` of the `loopback` driver.
///
/// Every key is optional. Durations are Go-style strings (`"2s"`, `"250ms"`) or numbers of seconds. An
/// unknown key or a value of the wrong type or out of range is a `DriverConfigurationError` naming the key.
///
/// | Key | Default | Meaning |
/// |---|---|---|
/// | `MaxInstances` | `4` | Creating beyond this many instances fails with `quotaExceeded` |
/// | `BootTime` | `0s` | Time from create until the instance's SSH server answers; its address is empty until then |
/// | `DataDirectory` | `<DispatchCloud.DataDirectory>/loopback` | Where instance records and state directories live |
public struct LoopbackParameters: Hashable, Sendable {
    /// The default quota: a few instances, since they all share this host.
    public static let defaultMaxInstances = 4

    /// The quota: at most this many instances at once (at least 1).
    public var maxInstances = Self.defaultMaxInstances
    /// How long an instance takes to boot.
    public var bootTime = Duration.zero
    /// The directory holding the instances, or `nil` for `<DispatchCloud.DataDirectory>/loopback`.
    public var dataDirectory: String?

    /// The defaults.
    public init() {}

    /// Reads the parameters from a `DriverParameters` object (`null` means all defaults).
    public init(_ json: JSONValue) throws(DriverConfigurationError) {
        self.init()
        var members: [String: JSONValue]
        switch json {
        case .null: members = [:]
        case .object(let object): members = object
        default: throw .invalidParameter("DriverParameters", "must be an object")
        }
        if let value = members.removeValue(forKey: "MaxInstances"), value != .null {
            guard case .int(let max) = value else { throw .invalidParameter("MaxInstances", "must be an integer") }
            guard max >= 1 else { throw .invalidParameter("MaxInstances", "must be at least 1") }
            self.maxInstances = Int(max)
        }
        if let value = members.removeValue(forKey: "BootTime"), value != .null {
            self.bootTime = try Self.duration(value, key: "BootTime")
        }
        if let value = members.removeValue(forKey: "DataDirectory"), value != .null {
            guard case .string(let path) = value, path.hasPrefix("/") else {
                throw .invalidParameter("DataDirectory", "must be an absolute path")
            }
            self.dataDirectory = path
        }
        if let unknown = members.keys.sorted().first {
            throw .invalidParameter(unknown, "unknown loopback driver parameter")
        }
    }

    /// The directory to use, given the configured `DispatchCloud.DataDirectory`.
    public func resolvedDataDirectory(dispatchDataDirectory: String) throws(DriverConfigurationError) -> String {
        if let dataDirectory = self.dataDirectory { return dataDirectory }
        guard !dispatchDataDirectory.isEmpty else {
            throw .invalidParameter("DataDirectory", "no DataDirectory and no DispatchCloud.DataDirectory configured")
        }
        return dispatchDataDirectory + "/loopback"
    }

    private static func duration(_ value: JSONValue, key: String) throws(DriverConfigurationError) -> Duration {
        let parsed: Duration?
        switch value {
        case .int(let seconds): parsed = .seconds(seconds)
        case .double(let seconds): parsed = .milliseconds(Int64((seconds * 1000).rounded()))
        case .string(let text): parsed = try? GoDuration.parse(text)
        default: parsed = nil
        }
        guard let duration = parsed, duration >= .zero else {
            throw .invalidParameter(key, "must be a non-negative duration such as \"2s\"")
        }
        return duration
    }
}
