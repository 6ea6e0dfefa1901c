import Foundation
import ProcessSpawning
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `moto_server` (the moto library's fake AWS endpoint) on 127.0.0.1, for the EC2 driver's tests.
///
/// It is started with `posix_spawn` (no `fork`, no inherited descriptors above 2) under a small shell that
/// kills it when its standard input, a pipe this process holds, closes: so ``stop()`` stops it, and so does
/// this process ending in any way, a crash or a `timeout` included. Its output goes to ``logPath``.
public final class MotoServer: Sendable {
    /// The port it listens on.
    public let port: Int
    /// `http://127.0.0.1:<port>`.
    public var endpoint: String { "http://127.0.0.1:\(self.port)" }
    /// Where its standard output and error go.
    public let logPath: String

    private let directory: TemporaryDirectory
    private let pid: pid_t
    /// The write end of the pipe that keeps the shell waiting; closed by ``stop()``.
    private let control: Mutex<Int32?>
    private let exit: ExitWatcher

    /// The `moto_server` on `PATH` or in `~/.local/bin` (where `pip install --user` puts it), or `nil`.
    public static var executable: String? {
        let environment = ProcessInfo.processInfo.environment
        var directories = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        if let home = environment["HOME"] { directories.append(home + "/.local/bin") }
        for directory in directories {
            let candidate = "\(directory)/moto_server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Whether `moto_server` is installed.
    public static var isInstalled: Bool { Self.executable != nil }

    /// Starts `moto_server` on a free port of 127.0.0.1 and returns once it accepts connections.
    public static func start() async throws -> MotoServer {
        guard let executable = Self.executable else {
            throw TestSupportError("moto_server is not on PATH (pip install 'moto[server]')")
        }
        let directory = try TemporaryDirectory(prefix: "moto")
        let port = try LoopbackPort.free()
        let server = try MotoServer(executable: executable, port: port, directory: directory)
        do {
            for _ in 0..<600 {
                if LoopbackPort.accepts(port) { return server }
                if server.exit.status != nil { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let log = (try? String(contentsOfFile: server.logPath, encoding: .utf8)) ?? ""
            throw TestSupportError("moto_server did not start on 127.0.0.1:\(port); its output:\n\(log)")
        } catch {
            await server.stop()
            throw error
        }
    }

    private init(executable: String, port: Int, directory: TemporaryDirectory) throws {
        self.port = port
        self.directory = directory
        self.logPath = directory.file("moto.log")
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw TestSupportError("pipe failed: errno \(errno)") }
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)

        // The shell runs moto in the background and waits on its standard input: end of file (this process
        // closed the pipe or died) kills moto.
        let script = #"m="$1"; shift; "$m" "$@" </dev/null & p=$!; read -r _ || true; kill $p 2>/dev/null; wait $p"#
        var spawn = Spawn(
            ["/bin/sh", "-c", script, "sh", executable, "-H", "127.0.0.1", "-p", String(port)],
            environment: ProcessInfo.processInfo.environment
        )
        spawn.fileActions = [
            .duplicate(ends[0], to: 0),
            .open(self.logPath, as: 1, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600),
            .duplicate(1, to: 2),
        ]
        let pid: pid_t
        do {
            pid = try spawn.start()
            close(ends[0])
        } catch {
            close(ends[0])
            close(ends[1])
            throw TestSupportError("posix_spawn of moto_server failed: \(error)")
        }
        self.pid = pid
        self.control = Mutex(ends[1])
        self.exit = ExitWatcher(pid: pid)
    }

    /// Stops the server and waits until it has exited (killing it after 10 seconds); idempotent.
    public func stop() async {
        let descriptor = self.control.withLock { control -> Int32? in
            defer { control = nil }
            return control
        }
        if let descriptor { close(descriptor) }
        let exited = await self.exit.wait(timeout: .seconds(10))
        if !exited {
            kill(self.pid, SIGKILL)
            _ = await self.exit.wait(timeout: .seconds(10))
        }
        self.directory.remove()
    }
}

/// Reaps one child on a dedicated thread (`waitpid` blocks), so no cooperative thread ever waits on it.
private final class ExitWatcher: Sendable {
    private let exitStatus = Mutex<Termination?>(nil)

    init(pid: pid_t) {
        ExitWatch.onExit(of: pid) { [self] termination in
            self.exitStatus.withLock { $0 = termination }
        }
    }

    /// How the child ended, once it has.
    var status: Termination? { self.exitStatus.withLock { $0 } }

    /// Suspends until the child has exited or `timeout` has passed; returns whether it exited.
    func wait(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while self.status == nil, ContinuousClock.now < deadline {
            // Polled, rather than waiting on a continuation that a timeout would have to cancel.
            try? await Task.sleep(for: .milliseconds(20))
        }
        return self.status != nil
    }
}
