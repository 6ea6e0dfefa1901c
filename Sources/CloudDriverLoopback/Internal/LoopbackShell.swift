import Foundation
import RemoteExecution
import SSHServer

/// How an instance's shell sees the commands it is given, shared by its SSH server and its init command.
struct LoopbackShell: Sendable {
    let layout: InstanceLayout
    let instanceID: String

    /// The environment added to every command: the runner's lock directory, and the instance's ID.
    var environment: [String: String] {
        [
            "DISPATCH_RUNNER_LOCK_DIR": self.layout.lockDirectory,
            "DISPATCH_LOOPBACK_INSTANCE_ID": self.instanceID,
        ]
    }

    /// Rewrites a command as this host runs it: a leading `sudo ` is stripped (commands run as the
    /// dispatcher's user, as in Arvados's loopback driver), and the standard instance-secret path
    /// (`/var/run/arvados-instance-secret`) names the instance's own secret file, so several instances
    /// share this host and a caller that does not know the driver still verifies the right one.
    func filter(_ command: String) -> String {
        var command = Substring(command)
        if command.hasPrefix("sudo ") { command = command.dropFirst("sudo ".count) }
        return String(command).replacingOccurrences(of: InstanceSecret.path, with: self.layout.secretFile)
    }

    /// Runs `command` (filtered) with `/bin/sh -c` in the instance's environment and working directory,
    /// as the instance's boot would; returns its exit status and standard error.
    func run(_ command: String) async throws -> (status: Int32, stderr: String) {
        try await ShellCommand.run(
            self.filter(command),
            environment: ProcessInfo.processInfo.environment.merging(self.environment) { $1 },
            workingDirectory: self.layout.workDirectory
        )
    }
}
