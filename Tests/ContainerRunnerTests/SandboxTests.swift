import DispatchModel
import Foundation
import Synchronization
import Testing

@testable import ContainerRunner

#if canImport(Glibc)
import Glibc
#endif

/// The bubblewrap command line of the `process` engine, and the host facts it depends on.
@Suite("Process sandbox")
struct SandboxTests {
    /// A merged-/usr host: `/bin`, `/lib`, `/lib64`, `/sbin` are symlinks; `/lib32` is missing.
    static func host(_ path: String) -> Sandbox.Entry {
        switch path {
        case "/usr": .directory
        case "/bin", "/sbin", "/lib", "/lib64": .symlink("usr" + path)
        case "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/resolv.conf": .file
        case "/etc/ssl", "/etc/alternatives": .directory
        default: .missing
        }
    }

    static func arguments(_ layout: Sandbox.Layout, command: [String] = ["true"]) -> [String] {
        Sandbox.arguments(layout, command: command, probe: Self.host)
    }

    /// The (source, destination) pairs of every option `name` taking two operands.
    static func pairs(_ arguments: [String], _ name: String) -> [(String, String)] {
        arguments.indices.compactMap { index in
            arguments[index] == name && index + 2 < arguments.count
                ? (arguments[index + 1], arguments[index + 2]) : nil
        }
    }

    @Test("Without runtime_constraints.API the container gets no network; with it, the host's")
    func network() {
        let off = Self.arguments(.init(workDirectory: "/w/c1"))
        #expect(off.contains("--unshare-all"))
        #expect(!off.contains("--share-net"))
        let on = Self.arguments(.init(workDirectory: "/w/c1", network: true))
        #expect(on.contains("--unshare-all"))
        #expect(on.contains("--share-net"))
        // The options come before the command.
        #expect(on.firstIndex(of: "--share-net")! < on.firstIndex(of: "--")!)
    }

    @Test("Only the system directories, an allowlist of /etc and the container's own directory are visible")
    func mountView() {
        let arguments = Self.arguments(
            .init(workDirectory: "/w/c1", readOnlyPaths: ["/opt/tools"]),
            command: ["sh", "-c", "echo hi"]
        )
        #expect(Array(arguments.prefix(3)) == ["--die-with-parent", "--new-session", "--unshare-all"])
        #expect(Array(arguments.suffix(4)) == ["--", "sh", "-c", "echo hi"])
        let readOnly = Self.pairs(arguments, "--ro-bind").map(\.0)
        #expect(readOnly == ["/usr"])
        let symlinks = Self.pairs(arguments, "--symlink").map { "\($0.1)->\($0.0)" }
        #expect(symlinks == ["/bin->usr/bin", "/sbin->usr/sbin", "/lib->usr/lib", "/lib64->usr/lib64"])
        let tried = Self.pairs(arguments, "--ro-bind-try").map(\.0)
        #expect(
            tried == [
                "/etc/alternatives", "/etc/group", "/etc/hosts", "/etc/passwd", "/etc/resolv.conf", "/etc/ssl",
                "/opt/tools",
            ]
        )
        // Never the whole of / or /etc (where a config file may live), nor /var, /home, /root, /run.
        let sources = Self.pairs(arguments, "--ro-bind").map(\.0) + tried + Self.pairs(arguments, "--bind").map(\.0)
        for forbidden in ["/", "/etc", "/etc/arvados", "/var", "/var/lib", "/home", "/root", "/run", "/tmp"] {
            #expect(!sources.contains(forbidden), "\(forbidden) is exposed")
        }
        #expect(Self.pairs(arguments, "--bind").map { "\($0.0)->\($0.1)" } == ["/w/c1->/w/c1"])
        #expect(arguments.contains("--tmpfs") && arguments[arguments.firstIndex(of: "--tmpfs")! + 1] == "/tmp")
        #expect(arguments[arguments.firstIndex(of: "--chdir")! + 1] == "/w/c1")
    }

    @Test("The container's directory is mounted at its output path and cwd when they hide nothing the sandbox needs")
    func cwdAndOutputPath() {
        let tmp = Self.arguments(.init(workDirectory: "/w/c1", cwd: "/tmp", outputPath: "/tmp"))
        #expect(Self.pairs(tmp, "--bind").map { "\($0.0)->\($0.1)" } == ["/w/c1->/tmp"])
        #expect(tmp[tmp.firstIndex(of: "--chdir")! + 1] == "/tmp")
        // The private /tmp comes first, so the bind is on top of it.
        #expect(tmp.firstIndex(of: "--tmpfs")! < tmp.firstIndex(of: "--bind")!)

        let cwl = Self.arguments(.init(workDirectory: "/w/c1", cwd: "/var/spool/cwl/x", outputPath: "/var/spool/cwl"))
        #expect(
            Self.pairs(cwl, "--bind").map { "\($0.0)->\($0.1)" } == [
                "/w/c1->/var/spool/cwl", "/w/c1->/var/spool/cwl/x",
            ]
        )
        #expect(cwl[cwl.firstIndex(of: "--chdir")! + 1] == "/var/spool/cwl/x")

        // Over the system directories, /etc, /proc, /, or with .. : not mounted; the container runs in its own path.
        for bad in [
            "/usr/bin", "/etc", "/proc", "/", "/dev/shm", "relative", "/a/../etc", "/lib", "/opt/tools/x", "/opt",
        ] {
            let arguments = Self.arguments(
                .init(workDirectory: "/w/c1", cwd: bad, outputPath: bad, readOnlyPaths: ["/opt/tools"])
            )
            #expect(Self.pairs(arguments, "--bind").map(\.1) == ["/w/c1"], "\(bad)")
            #expect(arguments[arguments.firstIndex(of: "--chdir")! + 1] == "/w/c1", "\(bad)")
        }
    }

    @Test("With a readiness descriptor, bwrap reads it once the sandbox is built (--block-fd), before the command")
    func readinessDescriptor() {
        let without = Self.arguments(.init(workDirectory: "/w/c1"))
        #expect(!without.contains("--block-fd"))
        let with = Self.arguments(.init(workDirectory: "/w/c1", readinessDescriptor: 3), command: ["sh", "-c", "x"])
        let index = with.firstIndex(of: "--block-fd")
        #expect(index.map { with[$0 + 1] } == "3")
        #expect(index.map { $0 < with.firstIndex(of: "--")! } == true)
        #expect(Array(with.suffix(4)) == ["--", "sh", "-c", "x"])
    }

    @Test("The sandbox user is a name from passwd, a UID or UID:GID; unknown names are refused")
    func users() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
            + "runner:x:1001:1002::/home/runner:/bin/sh\n"
        #expect(Sandbox.resolveUser("nobody", passwd: passwd).map { [$0.uid, $0.gid] } == [65534, 65534])
        #expect(Sandbox.resolveUser("runner", passwd: passwd).map { [$0.uid, $0.gid] } == [1001, 1002])
        #expect(Sandbox.resolveUser("1001", passwd: passwd).map { [$0.uid, $0.gid] } == [1001, 1002])
        #expect(Sandbox.resolveUser("4000", passwd: passwd).map { [$0.uid, $0.gid] } == [4000, 4000])
        #expect(Sandbox.resolveUser("4000:5000", passwd: passwd).map { [$0.uid, $0.gid] } == [4000, 5000])
        #expect(Sandbox.resolveUser("ghost", passwd: passwd) == nil)
        #expect(Sandbox.resolveUser("1:2:3", passwd: passwd) == nil)
        #expect(Sandbox.resolveUser("", passwd: passwd) == nil)
    }

    @Test("A work root behind a directory the sandbox user cannot enter is out of its reach")
    func reachability() {
        let tree: [String: (uid: UInt32, gid: UInt32, mode: UInt32)] = [
            "/": (0, 0, 0o755), "/tmp": (0, 0, 0o1777), "/tmp/private": (0, 0, 0o700),
            "/tmp/private/work": (0, 0, 0o755), "/tmp/open": (0, 0, 0o711), "/tmp/group": (0, 77, 0o710),
        ]
        let lookup = { (path: String) in tree[path] }
        #expect(Sandbox.reachable("/tmp/open", uid: 65534, gid: 65534, lookup: lookup))
        #expect(!Sandbox.reachable("/tmp/private/work", uid: 65534, gid: 65534, lookup: lookup))
        #expect(Sandbox.reachable("/tmp/private/work", uid: 0, gid: 0, lookup: lookup))
        #expect(Sandbox.reachable("/tmp/group", uid: 65534, gid: 77, lookup: lookup))
        #expect(!Sandbox.reachable("/tmp/group", uid: 65534, gid: 65534, lookup: lookup))
        #expect(!Sandbox.reachable("/tmp/missing", uid: 0, gid: 0, lookup: lookup))
    }

    @Test("The Sandbox member of --stdin-config: defaults to bwrap when absent; a malformed one is an error")
    func configuration() throws {
        let absent = try JSONDecoder().decode(RunnerConfiguration.self, from: Data(#"{"Env":{}}"#.utf8))
        #expect(absent.sandbox == SandboxSettings(mode: .bwrap, user: "nobody"))
        let given = try JSONDecoder().decode(
            RunnerConfiguration.self,
            from: Data(#"{"Sandbox":{"Mode":"auto","User":"1000:1000","ReadOnlyPaths":["/opt"]}}"#.utf8)
        )
        #expect(given.sandbox == SandboxSettings(mode: .auto, user: "1000:1000", readOnlyPaths: ["/opt"]))
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(RunnerConfiguration.self, from: Data(#"{"Sandbox":{"Mode":"off"}}"#.utf8))
        }
    }
}

@Suite("A container's memory cgroup")
struct MemoryCgroupTests {
    /// A cgroup for container `uuid` under this process's own (each test its own: they run in parallel), or nil
    /// where this host or user cannot make one.
    static func cgroup(_ uuid: ContainerUUID) throws -> MemoryCgroup? {
        guard let own = MemoryCgroup.ownCgroup(), access(MemoryCgroup.mountPoint + own, W_OK) == 0 else { return nil }
        return try MemoryCgroup.create(name: MemoryCgroup.name(uuid: uuid, supervisor: getpid()), limit: 64 << 20).get()
    }

    @Test("It is made under this process's own memory cgroup with the limit, and removed at the end")
    func createAndRemove() async throws {
        let uuid = ContainerUUID(rawValue: "zzzzz-dz642-000000000000001")
        guard let cgroup = try Self.cgroup(uuid) else { return }
        let name = MemoryCgroup.name(uuid: uuid, supervisor: getpid())
        #expect(cgroup.path == MemoryCgroup.path(name: name))
        #expect(cgroup.path.hasPrefix(MemoryCgroup.mountPoint + (MemoryCgroup.ownCgroup() ?? "")))
        let limit = try String(contentsOfFile: cgroup.path + "/memory.limit_in_bytes", encoding: .utf8)
        #expect(limit.trimmingCharacters(in: .whitespacesAndNewlines) == String(64 << 20))
        await cgroup.remove()
        #expect(!POSIX.isDirectory(cgroup.path))
    }

    @Test("A confined child joins it before its exec through `tasks`, and this process stays where it was")
    func childJoinsBeforeExec() async throws {
        guard let cgroup = try Self.cgroup(ContainerUUID(rawValue: "zzzzz-dz642-000000000000002")) else { return }
        let before = MemoryCgroup.ownCgroup()
        var output: [Int32] = [0, 0]
        try #require(pipe(&output) == 0)
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        var confinement = ProcessSpawner.Confinement()
        confinement.cgroupTasks = cgroup.tasks
        let pid = try ProcessSpawner.spawnConfined(
            ["/bin/sh", "-c", "grep memory /proc/self/cgroup; grep memory /proc/$PPID/cgroup"],
            environment: [:],
            descriptors: [null, output[1], null],
            workingDirectory: "/",
            confinement: confinement
        )
        close(output[1])
        close(null)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while case let count = read(output[0], &chunk, chunk.count), count > 0 { bytes += chunk[0..<count] }
        close(output[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        let relative = String(cgroup.path.dropFirst(MemoryCgroup.mountPoint.count))
        // The program itself is in the container's cgroup from its first instruction; its parent (this test
        // process, the supervisor's place) is not moved.
        #expect(lines.first?.hasSuffix(":" + relative) == true, "\(lines)")
        #expect(MemoryCgroup.ownCgroup() == before)
        await cgroup.remove()
        #expect(!POSIX.isDirectory(cgroup.path))
    }
}
