import ArvadosAPI
import DispatchModel
import DispatchTestSupport
import Foundation
import Testing

@testable import ContainerRunner

#if canImport(Glibc)
import Glibc
#endif

/// How the supervisor learns that bwrap has built a container's sandbox, and the confined spawn that hands bwrap
/// the descriptor it reads.
@Suite("Sandbox readiness")
struct SandboxReadinessTests {
    /// Reads everything from `fd` until end of file, then closes it.
    static func readAll(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while case let count = read(fd, &chunk, chunk.count), count > 0 { bytes += chunk[0..<count] }
        close(fd)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("The wait ends once the byte is read, and not before")
    func readEndsTheWait() throws {
        let readiness = try #require(SandboxReadiness.make())
        #expect(!readiness.wait(timeout: .zero))
        var byte: UInt8 = 0
        #expect(read(readiness.readEnd, &byte, 1) == 1)
        #expect(byte == UInt8(ascii: "x"))
        #expect(readiness.wait(timeout: .seconds(30)))
    }

    @Test("A sandbox that dies before reading ends the wait too: nobody waits for a reader that is gone")
    func deadReaderEndsTheWait() throws {
        let readiness = try #require(SandboxReadiness.make())
        #expect(!readiness.wait(timeout: .zero))
        readiness.closeReadEnd()
        #expect(readiness.wait(timeout: .seconds(30)))
    }

    @Test(
        "The shared wait: a deadline past asks once, a far one (saturated for poll) ends when the descriptor is ready"
    )
    func waitOnDescriptor() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { for fd in fds { close(fd) } }
        #expect(POSIX.wait(fds[0], for: Int16(POLLIN), until: .now) == 0)
        #expect(POSIX.wait(fds[0], for: Int16(POLLIN), until: .now - .seconds(5)) == 0)
        #expect(write(fds[1], "x", 1) == 1)
        #expect(POSIX.wait(fds[0], for: Int16(POLLIN), until: .now) == 1)
        // Far beyond what poll's Int32 of milliseconds holds: no trap, and the answer comes at once.
        #expect(POSIX.wait(fds[0], for: Int16(POLLIN), until: .now + .seconds(Int64(Int32.max) * 10)) == 1)
    }

    @Test("A confined child gets a fourth descriptor as 3, and nothing else of this process's")
    func fourthDescriptor() throws {
        var extra: [Int32] = [0, 0]
        var output: [Int32] = [0, 0]
        try #require(pipe(&extra) == 0 && pipe(&output) == 0)
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        // A descriptor of this process that is not close-on-exec, which the child must not get.
        let stray = fcntl(null, F_DUPFD, 40)
        try #require(stray >= 40)
        defer { close(stray) }
        let pid = try ProcessSpawner.spawnConfined(
            [
                "/bin/sh", "-c",
                "echo through-3 >&3; if [ -e /proc/self/fd/\(stray) ]; then echo leaked; else echo kept-out; fi",
            ],
            environment: [:],
            descriptors: [null, output[1], null, extra[1]],
            workingDirectory: "/",
            confinement: .init()
        )
        close(extra[1])
        close(output[1])
        close(null)
        #expect(Self.readAll(extra[0]) == "through-3\n")
        #expect(Self.readAll(output[0]) == "kept-out\n")
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid && status == 0)
    }

    @Test("A confined spawn that fails in the child names the step, and this process carries on unharmed")
    func failedStepIsReported() throws {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        var mask = sigset_t()
        pthread_sigmask(SIG_SETMASK, nil, &mask)
        #expect {
            try ProcessSpawner.spawnConfined(
                ["/bin/true"],
                environment: [:],
                descriptors: [null, null, null],
                workingDirectory: "/nonexistent-directory-of-this-test",
                confinement: .init()
            )
        } throws: { error in
            "\(error)".contains("cannot enter /nonexistent-directory-of-this-test")
        }
        #expect {
            try ProcessSpawner.spawnConfined(
                ["/etc/passwd"],
                environment: [:],
                descriptors: [null, null, null],
                workingDirectory: "/",
                confinement: .init()
            )
        } throws: { error in
            "\(error)".contains("cannot execute /etc/passwd")
        }
        // The caller's signal mask is what it was (signals are blocked only around the clone).
        var after = sigset_t()
        pthread_sigmask(SIG_SETMASK, nil, &after)
        #expect(withUnsafeBytes(of: &mask) { Array($0) } == withUnsafeBytes(of: &after) { Array($0) })
        // And it still starts programs.
        let pid = try ProcessSpawner.spawnConfined(
            ["/bin/true"],
            environment: [:],
            descriptors: [null, null, null],
            workingDirectory: "/",
            confinement: .init()
        )
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid && status == 0)
    }

    @Test("--detach reports ok only once the sandbox is built: a slow bwrap is not raced by the runner's start")
    func detachWaitsForTheSandbox() async throws {
        let node = try RunnerProcessTests.Node()
        defer { node.directory.remove() }
        // A bwrap that takes its time over the sandbox, marks when it is done, then reads its --block-fd byte and
        // runs the command. It runs as the sandbox user: everything it touches is open to all.
        let tools = node.directory.file("tools")
        try FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
        chmod(node.directory.path, 0o755)
        chmod(tools, 0o777)
        let marker = tools + "/sandbox-built"
        let fake = tools + "/bwrap"
        try """
        #!/bin/sh
        block=""
        while [ "$1" != "--" ]; do
            if [ "$1" = "--block-fd" ]; then block="$2"; fi
            shift
        done
        shift
        sleep 0.5
        : > \(marker)
        if [ -n "$block" ]; then head -c 1 <&"$block" > /dev/null; fi
        exec "$@"

        """.write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        try await EmbeddedContainerAPI.with { api in
            let container = try await RunnerProcessTests.lockedContainer(api, command: ["true"])
            let detached = try await ProcessRunner.run(
                RunnerProcessTests.runner,
                ["--detach", "--stdin-config", "--runtime-engine=process", container.uuid.rawValue],
                environment: node.environment.merging(["DISPATCH_RUNNER_BWRAP": fake]) { $1 },
                stdin: try RunnerProcessTests.config(api, container: container)
            )
            #expect(detached.status == 0, "\(detached.stderr)")
            // The sandbox was built before --detach returned (its ok comes after the wait).
            #expect(FileManager.default.fileExists(atPath: marker), "--detach returned before the sandbox was built")
            let finished = try #require(
                try await RunnerProcessTests.waitForState(api, container.uuid, [.complete, .cancelled])
            )
            #expect(finished.state == .complete && finished.exitCode == 0, "\(finished.runtimeStatus)")
        }
    }
}
