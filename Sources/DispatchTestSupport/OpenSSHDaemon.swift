import Foundation

/// The system OpenSSH server (`/usr/sbin/sshd`), started on 127.0.0.1 with throwaway keys for interop tests.
public final class OpenSSHDaemon: Sendable {
    /// Where Debian's `openssh-server` installs sshd.
    public static let path = "/usr/sbin/sshd"

    /// The port sshd listens on (127.0.0.1 only).
    public let port: Int
    /// The host key's public half, as an `authorized_keys`-style line.
    public let hostPublicKeyLine: String
    /// sshd's own log (`-e`), for failure messages.
    public let logPath: String
    private let process: SpawnedProcess

    private init(port: Int, hostPublicKeyLine: String, logPath: String, process: SpawnedProcess) {
        self.port = port
        self.hostPublicKeyLine = hostPublicKeyLine
        self.logPath = logPath
        self.process = process
    }

    /// Whether sshd is installed.
    public static var isInstalled: Bool { LocalProcess.exists(Self.path) }

    /// Starts `sshd -D -e` as the current user on a free port of 127.0.0.1, with an ed25519 host key
    /// generated in `directory` and `authorizedKeys` as the only authorized keys, and waits (bounded) until
    /// the port accepts connections.
    public static func start(
        authorizedKeys: [String],
        in directory: TemporaryDirectory
    ) async throws
        -> OpenSSHDaemon
    {
        guard Self.isInstalled else {
            throw TestSupportError(
                "\(Self.path) is missing: install Debian's openssh-server (apt-get install -y openssh-server)"
            )
        }
        let hostKey = try await SSHKeygen.generate(type: "ed25519", in: directory, name: "ssh_host_ed25519_key")
        let authorizedKeysPath = try directory.write(
            authorizedKeys.joined(separator: "\n") + "\n",
            to: "authorized_keys"
        )
        let port = try LoopbackPort.free()
        let config = """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(hostKey.privateKeyPath)
            AuthorizedKeysFile \(authorizedKeysPath)
            PidFile \(directory.file("sshd.pid"))
            StrictModes no
            UsePAM no
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PermitRootLogin prohibit-password
            LogLevel VERBOSE

            """
        let configPath = try directory.write(config, to: "sshd_config")
        // sshd refuses to start without its privilege-separation directory.
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)

        let logPath = directory.file("sshd.log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = try SpawnedProcess.spawn(Self.path, ["-D", "-e", "-f", configPath], stderr: .file(logPath))
        let daemon = OpenSSHDaemon(
            port: port,
            hostPublicKeyLine: hostKey.publicKeyLine,
            logPath: logPath,
            process: process
        )
        do {
            for _ in 0..<200 {
                guard process.isRunning else {
                    throw TestSupportError("sshd exited at start: \(daemon.log)")
                }
                if LoopbackPort.accepts(port) { return daemon }
                try await Task.sleep(for: .milliseconds(25))
            }
            throw TestSupportError("sshd did not accept connections on 127.0.0.1:\(port): \(daemon.log)")
        } catch {
            daemon.stop()
            throw error
        }
    }

    /// What sshd has logged so far.
    public var log: String {
        (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
    }

    /// Terminates sshd (a thread of its own reaps it; nothing waits here, so `defer` can call it).
    public func stop() {
        self.process.terminate()
    }
}
