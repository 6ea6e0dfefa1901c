public import DispatchModel
public import Logging

/// A named cloud driver: how to make an instance set from the `CloudVMs.DriverParameters` of the
/// configuration.
///
/// The assembly (`DispatchCloud`) registers the concrete drivers in a ``DriverRegistry`` and picks one by
/// the `CloudVMs.Driver` name; no module below it knows a concrete driver.
public struct Driver: Sendable {
    /// What a driver needs to make an instance set.
    public struct Context: Sendable {
        /// The raw `CloudVMs.DriverParameters` object.
        public var parameters: JSONValue
        /// The cluster the dispatcher serves.
        public var clusterID: ClusterID
        /// The logger for the driver.
        public var logger: Logger
        /// `DispatchCloud.DataDirectory`: where a driver that keeps local state (the loopback driver's
        /// instances) stores it, each driver in its own subdirectory; empty when none is configured.
        public var dataDirectory: String

        public init(parameters: JSONValue, clusterID: ClusterID, logger: Logger, dataDirectory: String = "") {
            self.parameters = parameters
            self.clusterID = clusterID
            self.logger = logger
            self.dataDirectory = dataDirectory
        }
    }

    /// An instance set as a driver made it, with what the assembly needs to know about its instances and the
    /// background work it needs.
    ///
    /// The assembly opens ``instanceSet`` once, with a generic function, and reads everything else it needs
    /// about the driver from here: it never asks for a driver by name or casts to a driver's types.
    public struct Product: Sendable {
        /// The instance set.
        public var instanceSet: any InstanceSet
        /// How commands reach the instances (in process, or over SSH with its dial policy and key needs).
        public var access: InstanceAccess
        /// Work to run for as long as the instance set is in use (as a `Service` of the service group),
        /// or `nil` if the driver needs none. It returns when its task is cancelled.
        public var run: (@Sendable () async throws -> Void)?

        /// A product whose instances are reached as `access` says: by default over SSH with loopback dials only.
        public init(
            instanceSet: any InstanceSet,
            access: InstanceAccess = .loopbackSSH,
            run: (@Sendable () async throws -> Void)? = nil
        ) {
            self.instanceSet = instanceSet
            self.access = access
            self.run = run
        }
    }

    /// The `CloudVMs.Driver` value that selects this driver.
    public var name: String
    /// Makes an instance set; throws ``DriverConfigurationError`` for invalid parameters.
    public var makeInstanceSet: @Sendable (Context) throws(DriverConfigurationError) -> Product

    public init(
        name: String,
        makeInstanceSet: @escaping @Sendable (Context) throws(DriverConfigurationError) -> Product
    ) {
        self.name = name
        self.makeInstanceSet = makeInstanceSet
    }
}

/// The drivers the assembly knows, by name.
public struct DriverRegistry: Sendable {
    private var drivers: [String: Driver] = [:]

    public init(_ drivers: [Driver] = []) {
        for driver in drivers { self.register(driver) }
    }

    /// Adds `driver`, replacing any driver of the same name.
    public mutating func register(_ driver: Driver) {
        self.drivers[driver.name] = driver
    }

    /// The registered driver names, sorted.
    public var names: [String] { self.drivers.keys.sorted() }

    /// Makes an instance set with the driver called `name`.
    public func makeInstanceSet(
        driver name: String,
        context: Driver.Context
    ) throws(DriverConfigurationError) -> Driver.Product {
        guard let driver = self.drivers[name] else {
            throw DriverConfigurationError(
                code: .unknownDriver,
                key: "Driver",
                message: "unsupported cloud driver \"\(name)\" (known: \(self.names.joined(separator: ", ")))"
            )
        }
        return try driver.makeInstanceSet(context)
    }
}

/// A driver could not be set up from the configuration.
public struct DriverConfigurationError: Error, Sendable, CustomStringConvertible {
    /// A broad classification of the failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case unknownDriver
            case invalidParameter
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// No driver is registered under the configured name.
        public static let unknownDriver = Code(.unknownDriver)
        /// A driver parameter is missing, of the wrong type, or out of range.
        public static let invalidParameter = Code(.invalidParameter)

        public var description: String { "\(self.wrapped)" }
    }

    /// The classification of the failure.
    public var code: Code
    /// The configuration key at fault, as a dotted path inside `DriverParameters` (such as `BootTime.Min`).
    public var key: String
    /// What is wrong, for people.
    public var message: String
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    public init(code: Code, key: String, message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.key = key
        self.message = message
        self.cause = cause
    }

    /// An invalid value for `key`.
    public static func invalidParameter(_ key: String, _ message: String) -> DriverConfigurationError {
        DriverConfigurationError(code: .invalidParameter, key: key, message: message)
    }

    public var description: String { "\(self.key): \(self.message)" }
}
