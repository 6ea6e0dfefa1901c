import DispatchConfig
import DispatchModel
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Dispatcher {
    /// Where the runner looks for bubblewrap (the same list as `dispatch-runner`'s).
    public static let bwrapLocations = ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]

    /// The `Sandbox` member of every runner's configuration, from `DispatchCloud.ProcessSandbox`.
    ///
    /// With the loopback driver and `RuntimeEngine: process` the containers run on this host, so what the
    /// runner would find is checked here, before anything starts: with `Mode: bwrap`, bwrap must be installed
    /// and (when this process is root, so the runner switches users) the sandbox user must exist.
    static func runnerSandbox(
        _ config: ClusterConfig,
        bwrapLocations: [String] = Dispatcher.bwrapLocations
    ) throws(DispatcherError) -> JSONValue {
        let sandbox = config.dispatchCloud.processSandbox
        if config.containers.cloudVMs.driver == "loopback", config.containers.runtimeEngine == "process",
            sandbox.mode == .bwrap
        {
            guard bwrapLocations.contains(where: { access($0, X_OK) == 0 }) else {
                throw DispatcherError(
                    .configuration,
                    "DispatchCloud.ProcessSandbox.Mode is bwrap but bubblewrap is not installed "
                        + "(no \(bwrapLocations.joined(separator: ", "))): install it (apt-get install bubblewrap), "
                        + "or set DispatchCloud.ProcessSandbox.Mode: none to accept running containers unsandboxed"
                )
            }
            if getuid() == 0, !Self.userExists(sandbox.user) {
                throw DispatcherError(
                    .configuration,
                    "DispatchCloud.ProcessSandbox.User: no user \"\(sandbox.user)\" on this host"
                )
            }
        }
        return .object([
            "Mode": .string(sandbox.mode.rawValue),
            "User": .string(sandbox.user),
            "ReadOnlyPaths": .array(sandbox.readOnlyPaths.map(JSONValue.string)),
        ])
    }

    /// Whether `user` (a name, a UID or `UID:GID`) names a user here; numeric IDs always do.
    static func userExists(_ user: String) -> Bool {
        if user.split(separator: ":").allSatisfy({ UInt32($0) != nil }) { return true }
        return getpwnam(user) != nil
    }

    /// Makes the data directory private to this user (0700) when it is not; returns its mode before, if
    /// it changed.
    static func makePrivate(directory: String) -> Int? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: directory),
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0,
            (attributes[.ownerAccountID] as? NSNumber)?.uint32Value == geteuid()
        else { return nil }
        return chmod(directory, 0o700) == 0 ? mode : nil
    }

    /// A warning when the configuration file at `path` may be read by every user of this host (it holds the
    /// tokens), else nil.
    public static func configurationFileWarning(path: String) -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o004 != 0
        else { return nil }
        return "the configuration file \(path) is readable by every user of this host (mode "
            + String(mode, radix: 8) + ") and holds the cluster's tokens: chmod 600 it (or 640 for a trusted group)"
    }
}
