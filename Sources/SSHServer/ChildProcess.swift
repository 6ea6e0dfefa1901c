import Foundation
import ProcessSpawning
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A command started with `posix_spawn`, with pipes for its standard streams.
///
/// The child gets default signal dispositions and an empty signal mask (the spawning thread may block or
/// ignore signals, as event-loop threads and NIO's SIGPIPE handling do), and its own process group.
struct ChildProcess {
    /// How a process ended.
    typealias Termination = ProcessSpawning.Termination

    let pid: pid_t
    /// The write end of the child's standard input.
    let stdin: CInt
    /// The read end of the child's standard output.
    let stdout: CInt
    /// The read end of the child's standard error.
    let stderr: CInt

    /// Serializes pipe creation with spawning, so that no concurrently spawned command inherits another
    /// command's pipe ends between `pipe` and `fcntl(FD_CLOEXEC)` (glibc's `pipe2` is not visible to Swift).
    private static let spawnLock = Mutex(())

    /// Starts `command` with `environment`, in `workingDirectory` if given: directly when it is a plain command
    /// line (``plainWords(_:)``), else as `shell -c command`. A plain command whose program cannot be started
    /// goes to the shell after all, which reports it as the shell would (`not found`, exit 127).
    static func spawn(
        shell: String,
        command: String,
        environment: [String: String],
        workingDirectory: String?
    ) throws -> ChildProcess {
        if let words = Self.plainWords(command),
            let process = try? Self.spawn(words, environment: environment, workingDirectory: workingDirectory)
        {
            return process
        }
        return try Self.spawn([shell, "-c", command], environment: environment, workingDirectory: workingDirectory)
    }

    /// The words of `command` when a POSIX shell would simply run it as one program: an absolute program path
    /// followed by arguments, each made of unquoted characters that a shell leaves alone (letters, digits,
    /// `_./:=@%+,-`, and `~` inside a word) and single-quoted text; `nil` for anything else (variables, globs,
    /// operators, other quoting, redirections), which the shell must interpret.
    ///
    /// Running such commands without a shell saves one process per command: the dispatcher's runner commands
    /// (`…/crunch-run~<md5> --detach --stdin-config '--runtime-engine=process' '<uuid>'`) are all of this kind.
    static func plainWords(_ command: String) -> [String]? {
        let bytes = Array(command.utf8)
        var words: [String] = []
        var word: [UInt8] = []
        var inWord = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                if inWord { words.append(String(decoding: word, as: UTF8.self)) }
                word = []
                inWord = false
                index += 1
                continue
            }
            inWord = true
            if byte == UInt8(ascii: "'") {
                guard let end = bytes[(index + 1)...].firstIndex(of: UInt8(ascii: "'")) else { return nil }
                word += bytes[(index + 1)..<end]
                index = end + 1
                continue
            }
            // A tilde inside a word is plain (`crunch-run~<md5>`); at its start, or after `=` or `:`, it expands.
            let plainTilde =
                byte == UInt8(ascii: "~")
                && !(word.last.map { [UInt8(ascii: "="), UInt8(ascii: ":")].contains($0) } ?? true)
            guard plainTilde || Self.isPlain(byte) else { return nil }
            word.append(byte)
            index += 1
        }
        if inWord { words.append(String(decoding: word, as: UTF8.self)) }
        guard let program = words.first, program.hasPrefix("/") else { return nil }
        return words
    }

    private static func isPlain(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("_./:=@%+,-".utf8).contains(byte)
        }
    }

    /// Starts `arguments` (an absolute program path first) with `environment`, in `workingDirectory` if given.
    private static func spawn(
        _ arguments: [String],
        environment: [String: String],
        workingDirectory: String?
    ) throws -> ChildProcess {
        try Self.spawnLock.withLock { _ in
            // stdin: the child reads [0].read, the parent writes [0].write; stdout and stderr the other way.
            var pipes: [(read: CInt, write: CInt)] = []
            var childEnds: [CInt] { pipes.enumerated().map { $0.offset == 0 ? $0.element.read : $0.element.write } }
            var parentEnds: [CInt] { pipes.enumerated().map { $0.offset == 0 ? $0.element.write : $0.element.read } }
            // The child has its own copies of its ends once spawned; on failure the parent's ends go too.
            var spawned = false
            defer {
                for fd in childEnds { close(fd) }
                if !spawned {
                    for fd in parentEnds { close(fd) }
                }
            }
            for _ in 0..<3 {
                var fds: [CInt] = [-1, -1]
                guard pipe(&fds) == 0 else {
                    throw SSHServerError(message: "pipe failed: errno \(errno)")
                }
                _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
                pipes.append((fds[0], fds[1]))
            }

            var spawn = Spawn(arguments, environment: environment)
            spawn.fileActions = [
                .duplicate(pipes[0].read, to: 0), .duplicate(pipes[1].write, to: 1), .duplicate(pipes[2].write, to: 2),
            ]
            // SwiftNIO's sockets are not close-on-exec on Linux: the spawn closes every other descriptor, or a
            // command (or a runner it detaches) would inherit the listening socket and the connections, keep the
            // port bound after the server stops, and keep connections open after the server closes them.
            spawn.workingDirectory = workingDirectory
            spawn.newProcessGroup = true
            let pid = try spawn.start()
            spawned = true
            return ChildProcess(pid: pid, stdin: pipes[0].write, stdout: pipes[1].read, stderr: pipes[2].read)
        }
    }

    /// Waits for the process on a dedicated thread and calls `onExit` there once it has ended.
    func waitForExit(_ onExit: @escaping @Sendable (Termination) -> Void) {
        ExitWatch.onExit(of: self.pid, onExit)
    }

    /// Sends `signal` to the process's group: the shell and what it started in the foreground or background
    /// (a program that moved itself to a new group or session, as a detaching runner does, is not affected).
    func killGroup(_ signal: Int32) {
        sendSignal(signal, toGroup: self.pid)
    }
}

/// `kill(-group, signal)`, outside ``ChildProcess`` whose `kill` method would shadow the C function.
private func sendSignal(_ signal: Int32, toGroup group: pid_t) {
    _ = kill(-group, signal)
}

/// Runs one shell command to completion outside any SSH session, as a host runs a boot script.
public enum ShellCommand: Sendable {
    /// Runs `shell -c command` with `environment` (its whole environment) in `workingDirectory`, with no
    /// input; returns its exit status (128 + the signal for a killed command) and what it wrote to standard
    /// error. Its standard output is read and discarded.
    ///
    /// It is started with `posix_spawn` with every other descriptor closed, and waited for on a dedicated
    /// thread, like the commands the server runs for its sessions.
    public static func run(
        shell: String = "/bin/sh",
        _ command: String,
        environment: [String: String],
        workingDirectory: String?
    ) async throws -> (status: Int32, stderr: String) {
        let process = try ChildProcess.spawn(
            shell: shell,
            command: command,
            environment: environment,
            workingDirectory: workingDirectory
        )
        close(process.stdin)
        async let output = Self.drain(process.stdout)
        async let errors = Self.drain(process.stderr)
        let termination = await withCheckedContinuation { continuation in
            process.waitForExit { continuation.resume(returning: $0) }
        }
        _ = await output
        let stderr = String(decoding: await errors, as: UTF8.self)
        return (termination.shellStatus, stderr)
    }

    /// Reads `fd` to its end on a dedicated thread, then closes it.
    private static func drain(_ fd: CInt) async -> [UInt8] {
        await withCheckedContinuation { continuation in
            Thread {
                var data: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 65_536)
                while true {
                    let count = read(fd, &buffer, buffer.count)
                    if count > 0 {
                        data += buffer[0..<count]
                    } else if count < 0 && errno == EINTR {
                        continue
                    } else {
                        break
                    }
                }
                close(fd)
                continuation.resume(returning: data)
            }.start()
        }
    }
}
