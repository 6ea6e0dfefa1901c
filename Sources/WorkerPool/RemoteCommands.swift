import DispatchModel

/// The exact command lines the pool runs on workers (reference §7.3), and the init command that plants the
/// instance secret.
struct RemoteCommands: Hashable, Sendable {
    /// Where the init command writes the instance secret; host verification reads it back.
    static let instanceSecretPath = "/var/run/arvados-instance-secret"

    /// The runner on the worker: `<DeployRunnerDirectory>/crunch-run~<md5>` or `CrunchRunCommand`.
    var runner: String
    /// The user commands run as; other than `root`, runner commands get a `sudo` prefix.
    var remoteUser: String

    init(runner: String, remoteUser: String) {
        self.runner = runner
        self.remoteUser = remoteUser
    }

    /// The path a runner binary with MD5 `md5Hex` is deployed to under `directory`.
    static func deployedRunnerPath(directory: String, md5Hex: String) -> String {
        let trimmed = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        return "\(trimmed)/crunch-run~\(md5Hex)"
    }

    /// The first-boot script: write the secret readable by root only, then the operator's `InstanceInitCommand`.
    static func initCommand(secret: String, instanceInitCommand: String) -> String {
        "umask 0177 && echo -n \"\(secret)\" >\(Self.instanceSecretPath)\n\(instanceInitCommand)"
    }

    /// Wraps `command` in `sudo` unless the remote user is root.
    func privileged(_ command: String) -> String {
        self.remoteUser == "root" ? command : "sudo " + command
    }

    /// The deploy check: `md5sum R` (never with sudo).
    var md5sum: String { "md5sum \(self.runner)" }

    /// The output of ``md5sum`` when the deployed runner is the right one.
    func expectedMD5Output(md5Hex: String) -> String { "\(md5Hex)  \(self.runner)\n" }

    /// The deploy script, fed the binary on stdin; `touch` and `chmod` come first so a runner with the right
    /// MD5 never has the wrong mode.
    var deploy: String {
        let directory = self.runner.split(separator: "/", omittingEmptySubsequences: false).dropLast()
            .joined(separator: "/")
        let script =
            "set -e; dstdir=\"\(directory)/\"; dstfile=\"\(self.runner)\"; mkdir -p \"$dstdir\"; touch \"$dstfile\"; chmod 0755 \"$dstdir\" \"$dstfile\"; cat >\"$dstfile\""
        return self.remoteUser == "root" ? script : "sudo sh -c \(Self.quoted(script))"
    }

    /// The run probe: `R --list`, with `--stdin-prices` when a price history goes on stdin.
    func list(withPrices: Bool) -> String {
        self.privileged("\(self.runner) --list" + (withPrices ? " --stdin-prices" : ""))
    }

    /// Starts a container's runner in the background, its configuration on stdin.
    func detach(_ uuid: ContainerUUID, runtimeEngine: String, arguments: [String]) -> String {
        let quoted = (["--runtime-engine=\(runtimeEngine)"] + arguments + [uuid.rawValue]).map(Self.quoted)
        return self.privileged("\(self.runner) --detach --stdin-config " + quoted.joined(separator: " "))
    }

    /// Asks a container's runner to stop with SIGTERM; exit 0 means it is gone.
    func kill(_ uuid: ContainerUUID) -> String {
        self.privileged("\(self.runner) --kill 15 \(uuid.rawValue)")
    }

    /// `word` in single quotes for a POSIX shell, each `'` written `'\''`.
    static func quoted(_ word: String) -> String {
        "'" + word.replacing("'", with: "'\\''") + "'"
    }
}
