public import DispatchModel

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the `process` engine isolates a container: the `Sandbox` member of the `--stdin-config` document, which
/// the dispatcher fills from `DispatchCloud.ProcessSandbox` (`crunch-run` ignores it).
///
/// With `bwrap` (the default, also when the member is absent) each container runs under bubblewrap as an
/// unprivileged user, in a mount view of its own: the system directories read-only, a short list of `/etc`
/// files, its own working directory writable, a private `/tmp`, and no network unless
/// `runtime_constraints.API` is true. Nothing else of this host exists in that view: not the dispatcher's
/// configuration, its data directory, its keys, nor other containers' directories.
public struct SandboxSettings: Decodable, Hashable, Sendable {
    public enum Mode: String, Decodable, Hashable, Sendable {
        /// Sandbox every container; without bwrap, a container fails with a `runtime_status.error`.
        case bwrap
        /// Sandbox when bwrap is installed, else run unsandboxed with a warning in the container's log.
        case auto
        /// Run containers as the runner's own user, seeing the whole host.
        case none
    }

    public var mode: Mode
    /// The user the container runs as: a name from `/etc/passwd`, a UID, or `UID:GID`.
    public var user: String
    /// Host paths the container also sees, read-only, at the same place.
    public var readOnlyPaths: [String]
    /// Where bwrap is looked for, in order (not part of the document: `$DISPATCH_RUNNER_BWRAP` replaces it).
    public var bwrapLocations = ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]

    public init(mode: Mode = .bwrap, user: String = "nobody", readOnlyPaths: [String] = []) {
        self.mode = mode
        self.user = user
        self.readOnlyPaths = readOnlyPaths
    }

    enum CodingKeys: String, CodingKey {
        case mode = "Mode"
        case user = "User"
        case readOnlyPaths = "ReadOnlyPaths"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.mode = try container.decodeIfPresent(Mode.self, forKey: .mode) ?? .bwrap
        self.user = try container.decodeIfPresent(String.self, forKey: .user) ?? "nobody"
        self.readOnlyPaths = try container.decodeIfPresent([String].self, forKey: .readOnlyPaths) ?? []
    }
}

/// Building a container's bubblewrap command line, and the host facts it depends on.
enum Sandbox {
    /// What the operator sees when the sandbox is required and bwrap is missing.
    static let missingBwrap =
        "the process sandbox needs bubblewrap (bwrap), which is not installed on this instance: install the "
        + "bubblewrap package, or set DispatchCloud.ProcessSandbox.Mode to none to run containers unsandboxed"

    /// The top-level system directories a container sees read-only (or as the same symlink, on merged-/usr systems).
    static let systemDirectories = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]

    /// The `/etc` entries a container sees read-only: what the C library, shells and TLS clients read. An
    /// allowlist, so that nothing else kept in `/etc` (an `/etc/arvados/config.yml`, keys) is visible. Short on
    /// purpose: each entry is a bind mount, about 0.4 ms of every container's start.
    static let etcEntries = [
        "alternatives", "ca-certificates", "gai.conf", "group", "host.conf", "hosts", "ld.so.cache", "localtime",
        "nsswitch.conf", "os-release", "passwd", "protocols", "resolv.conf", "services", "ssl", "timezone",
    ].map { "/etc/" + $0 }

    /// What a path is on the host.
    enum Entry: Equatable, Sendable {
        case missing
        case directory
        case file
        case symlink(String)
    }

    /// What `path` is on this host (without following a final symlink).
    static func probe(_ path: String) -> Entry {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFLNK:
            var buffer = [CChar](repeating: 0, count: 4096)
            let count = readlink(path, &buffer, buffer.count - 1)
            guard count > 0 else { return .missing }
            return .symlink(String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        default: return .file
        }
    }

    /// The first executable bwrap, or nil.
    static func findBwrap(locations: [String]) -> String? {
        locations.first { access($0, X_OK) == 0 }
    }

    /// Everything that decides a container's bwrap command line.
    struct Layout: Equatable, Sendable {
        /// The container's own directory on the host, writable; seen at its output path and its cwd, else at
        /// the same path.
        var workDirectory: String
        /// `cwd` of the record.
        var cwd: String = ""
        /// `output_path` of the record.
        var outputPath: String = ""
        /// `runtime_constraints.API`: share the host's network.
        var network = false
        /// `ReadOnlyPaths` of the settings.
        var readOnlyPaths: [String] = []
        /// A prepared copy of the allowlisted `/etc` entries (``EtcCopy``), bound at `/etc` in one mount; nil
        /// binds each entry from the host's `/etc` instead.
        var etcCopy: String?
    }

    /// The bwrap arguments (without the program itself) that run `command` as `layout` says; `probe` says
    /// what each system path is on this host.
    static func arguments(
        _ layout: Layout,
        command: [String],
        probe: (String) -> Entry = Self.probe
    ) -> [String] {
        var arguments = ["--die-with-parent", "--new-session", "--unshare-all"]
        if layout.network { arguments.append("--share-net") }
        for path in Self.systemDirectories {
            switch probe(path) {
            case .directory: arguments += ["--ro-bind", path, path]
            case .symlink(let target): arguments += ["--symlink", target, path]
            case .file, .missing: break
            }
        }
        if let etcCopy = layout.etcCopy {
            arguments += ["--ro-bind", etcCopy, "/etc"]
        } else {
            for path in Self.etcEntries where probe(path) != .missing {
                arguments += ["--ro-bind-try", path, path]
            }
        }
        for path in layout.readOnlyPaths where Self.isPlainAbsolute(path) && path != "/" {
            arguments += ["--ro-bind-try", path, path]
        }
        arguments += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        // The container's directory appears at its output path and its cwd, else at its own host path.
        var mountPoints: [String] = []
        for path in [layout.outputPath, layout.cwd] where Self.canMount(path, layout) && !mountPoints.contains(path) {
            mountPoints.append(path)
        }
        if mountPoints.isEmpty { mountPoints = [layout.workDirectory] }
        for path in mountPoints { arguments += ["--bind", layout.workDirectory, path] }
        let directory = Self.canMount(layout.cwd, layout) ? layout.cwd : mountPoints[0]
        arguments += ["--chdir", directory, "--"]
        return arguments + command
    }

    /// Whether the container's working directory may also be mounted at `path` (its `cwd` or `output_path`):
    /// an absolute path that hides nothing the sandbox provides (the system directories, `/etc`, `/proc`,
    /// `/dev`, `/sys`, the read-only paths).
    static func canMount(_ path: String, _ layout: Layout) -> Bool {
        guard Self.isPlainAbsolute(path), path != "/" else { return false }
        let reserved = Self.systemDirectories + ["/etc", "/proc", "/dev", "/sys"] + layout.readOnlyPaths
        return !reserved.contains { path == $0 || path.hasPrefix($0 + "/") || $0.hasPrefix(path + "/") }
    }

    /// An absolute path without `.`, `..` or empty components (a trailing slash aside).
    static func isPlainAbsolute(_ path: String) -> Bool {
        guard path.hasPrefix("/") else { return false }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        return !components.enumerated().contains { index, component in
            component == "." || component == ".." || (component.isEmpty && index != components.count - 1)
        }
    }

    /// Where sandboxed containers' directories go when the runner's work root is out of the sandbox user's
    /// reach (bwrap, running as that user, must reach the directory it mounts).
    static let fallbackRoot = "/tmp/dispatch-runner-sandbox"

    /// Makes (or checks) a directory this runner alone may write: a real directory, not a symlink, owned by
    /// this process's user and writable by nobody else. A directory in a world-writable place such as `/tmp`
    /// that another user made first is refused, never used: the runner gives directories under it away with
    /// `chown`, which a planted symlink would turn against any file of the host.
    static func ownedDirectory(_ path: String, mode: mode_t) -> String? {
        if mkdir(path, mode) != 0 && errno != EEXIST { return String(cString: strerror(errno)) }
        var info = stat()
        guard lstat(path, &info) == 0 else { return String(cString: strerror(errno)) }
        guard info.st_mode & S_IFMT == S_IFDIR else { return "not a directory (or a symlink)" }
        guard info.st_uid == geteuid() else { return "owned by uid \(info.st_uid), not by this runner" }
        if info.st_mode & 0o7777 != mode { _ = chmod(path, mode) }
        return nil
    }

    /// Whether a process of `uid` and `gid` (and no other group) may traverse every directory from `/` to
    /// `path`; `lookup` gives a directory's owner, group and mode.
    static func reachable(
        _ path: String,
        uid: UInt32,
        gid: UInt32,
        lookup: (String) -> (uid: UInt32, gid: UInt32, mode: UInt32)? = Self.ownership
    ) -> Bool {
        guard path.hasPrefix("/") else { return false }
        var prefix = ""
        for component in [""] + path.split(separator: "/").map(String.init) {
            prefix = component.isEmpty ? "/" : (prefix == "/" ? "/" : prefix + "/") + component
            guard let info = lookup(prefix) else { return false }
            let bit: UInt32 = info.uid == uid ? 0o100 : info.gid == gid ? 0o010 : 0o001
            if info.mode & bit == 0 { return false }
        }
        return true
    }

    /// A path's owner, group and permission bits (following symlinks), or nil.
    static func ownership(_ path: String) -> (uid: UInt32, gid: UInt32, mode: UInt32)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (info.st_uid, info.st_gid, UInt32(info.st_mode & 0o7777))
    }

    /// The UID and GID of `user` (a name in `passwd`, a UID, or `UID:GID`), or nil when it is unknown.
    static func resolveUser(_ user: String, passwd: String) -> (uid: UInt32, gid: UInt32)? {
        let entries = passwd.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false) }
            .filter { $0.count >= 4 }
        let parts = user.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 2, let uid = UInt32(parts[0]), let gid = UInt32(parts[1]) { return (uid, gid) }
        if parts.count == 1, let uid = UInt32(user) {
            let gid = entries.first { UInt32($0[2]) == uid }.flatMap { UInt32($0[3]) } ?? uid
            return (uid, gid)
        }
        guard parts.count == 1, let entry = entries.first(where: { $0[0] == user }),
            let uid = UInt32(entry[2]), let gid = UInt32(entry[3])
        else { return nil }
        return (uid, gid)
    }

    /// The contents of `/etc/passwd` (empty when unreadable).
    static func readPasswd() -> String {
        let fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while bytes.count < 16 << 20 {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension SandboxSettings {
    /// Whether containers of `engine` run in a sandbox with these settings: the process engine (the default),
    /// with a sandbox mode other than `none`.
    func confines(engine: String) -> Bool {
        ["", "process"].contains(engine) && self.mode != .none
    }

    /// Whether a supervisor with these settings will put `container` in a memory cgroup of its own: the process
    /// engine, a sandbox with bwrap found, a RAM limit, and a cgroup v1 memory hierarchy.
    public func usesMemoryCgroup(engine: String, container: Container?) -> Bool {
        guard self.confines(engine: engine), let container, container.runtimeConstraints.ram > 0 else { return false }
        return Sandbox.findBwrap(locations: self.bwrapLocations) != nil && POSIX.isDirectory(MemoryCgroup.mountPoint)
    }
}

/// A memory cgroup (v1) holding one container, with its RAM limit.
struct MemoryCgroup: Sendable {
    /// The cgroup's directory.
    let path: String
    /// `cgroup.procs`, open for writing (close-on-exec): the child writes "0" to it before its exec.
    let procs: Int32

    /// The memory hierarchy's mount point.
    static let mountPoint = "/sys/fs/cgroup/memory"

    /// Creates `name` under this process's own memory cgroup (or the hierarchy's root) with `limit` bytes;
    /// nil with the reason when the kernel or the user does not allow it.
    static func create(name: String, limit: Int64) -> Result<MemoryCgroup, RunnerError> {
        guard let path = Self.path(name: name) else {
            return .failure(RunnerError(.spawn, "no memory cgroup hierarchy at \(Self.mountPoint)"))
        }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            return .failure(RunnerError(.spawn, "cannot create \(path): \(String(cString: strerror(errno)))"))
        }
        guard Self.write(String(limit), to: path + "/memory.limit_in_bytes") else {
            let reason = String(cString: strerror(errno))
            rmdir(path)
            return .failure(RunnerError(.spawn, "cannot set \(path)/memory.limit_in_bytes: \(reason)"))
        }
        // With swap accounting, the same limit on memory and swap together; without it the file is absent.
        _ = Self.write(String(limit), to: path + "/memory.memsw.limit_in_bytes")
        let procs = open(path + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard procs >= 0 else {
            rmdir(path)
            return .failure(RunnerError(.spawn, "cannot open \(path)/cgroup.procs"))
        }
        return .success(MemoryCgroup(path: path, procs: procs))
    }

    /// Moves process `pid` (and later its children) into the cgroup; false with `errno` set when the kernel refuses.
    func add(_ pid: pid_t) -> Bool {
        let bytes = Array(String(pid).utf8)
        return bytes.withUnsafeBytes { Glibc.write(self.procs, $0.baseAddress, $0.count) } == bytes.count
    }

    /// The name of the memory cgroup the supervisor with PID `supervisor` makes for container `uuid`.
    static func name(uuid: ContainerUUID, supervisor: pid_t) -> String {
        "dispatch-runner-\(uuid.rawValue)-\(supervisor)"
    }

    /// Where a cgroup `name` made by this process goes: under this process's own memory cgroup, else under the
    /// hierarchy's root; nil without a hierarchy.
    static func path(name: String) -> String? {
        Self.path(name: name, under: Self.ownDirectory())
    }

    /// ``path(name:)`` with this process's own cgroup directory already looked up (`own`, nil when absent).
    private static func path(name: String, under own: String?) -> String? {
        guard let base = own ?? (POSIX.isDirectory(Self.mountPoint) ? Self.mountPoint : nil) else { return nil }
        return (base.hasSuffix("/") ? base : base + "/") + name
    }

    /// This process's own memory cgroup's directory, when the hierarchy has one.
    static func ownDirectory() -> String? {
        Self.ownCgroup().map { Self.mountPoint + $0 }.flatMap { POSIX.isDirectory($0) ? $0 : nil }
    }

    /// For `--detach`, while it waits for supervisor `pid` (its child, in the same cgroup): makes the directory of
    /// the supervisor's memory cgroup, then primes moves (``primeMoves()``); the directory's path.
    ///
    /// The directory comes first because a move holds the kernel's cgroup mutex while it waits, and a `mkdir` in
    /// the hierarchy needs that mutex: made by the supervisor during the prime, it would wait the prime out. The
    /// supervisor finds it made (``create(name:limit:)`` takes an existing one), sets the limit and removes it at
    /// the end; if the supervisor fails before, `--detach` removes it.
    static func prepare(uuid: ContainerUUID, supervisor pid: pid_t) -> String? {
        let own = Self.ownDirectory()
        guard let path = Self.path(name: Self.name(uuid: uuid, supervisor: pid), under: own) else { return nil }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { return nil }
        if let own { Self.primeMoves(in: own) }
        return path
    }

    /// Writes this process's own PID into its own memory cgroup (a move to where it already is): `true` when the
    /// kernel took it.
    ///
    /// A move into a cgroup v1 hierarchy takes the kernel's cgroup threadgroup lock for writing, and the first
    /// writer after a quiet spell waits out an RCU grace period (7–15 ms here) before it gets it; writers that follow
    /// within about a grace period of the last one pass at once (0.01–0.05 ms). `--detach` calls this while it waits
    /// for its supervisor, so the wait overlaps the supervisor's start and bwrap's, and the sandbox's own move
    /// finds the lock ready (``prepare(uuid:supervisor:)``). Measured in the README, "Where the sandboxed start's time goes".
    @discardableResult
    static func primeMoves() -> Bool {
        Self.ownDirectory().map { Self.primeMoves(in: $0) } ?? false
    }

    /// ``primeMoves()`` for this process's own cgroup directory `own` (``ownDirectory()``).
    @discardableResult
    private static func primeMoves(in own: String) -> Bool {
        let fd = open((own.hasSuffix("/") ? own : own + "/") + "cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let zero = Array("0".utf8)
        return zero.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == zero.count
    }

    /// Sends `signal` to every process in the cgroup but `excluded`.
    func signalMembers(_ signal: Int32, except excluded: pid_t) {
        let fd = open(self.path + "/cgroup.procs", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if let pid = pid_t(line), pid > 0, pid != excluded { _ = kill(pid, signal) }
        }
    }

    /// Closes the descriptor and removes the cgroup once its processes are gone (retrying briefly).
    func remove() async {
        close(self.procs)
        for _ in 0..<100 {
            if rmdir(self.path) == 0 || errno == ENOENT { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// This process's memory cgroup path, from `/proc/self/cgroup` (`N:memory:/path`).
    static func ownCgroup() -> String? {
        let fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        for line in String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if fields.count == 3, fields[1].split(separator: ",").contains("memory") { return String(fields[2]) }
        }
        return nil
    }

    private static func write(_ text: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count
    }
}

/// A read-only copy of the `/etc` entries a container sees (``Sandbox/etcEntries``), so that bwrap mounts
/// one directory at `/etc` instead of binding each entry: each bind costs about 0.4 ms of every container's
/// start.
///
/// The copy is named by a signature of what it copies (type, inode, size and modification time of every
/// entry, recursively), so a change on the host makes a new copy at the next container's start, and copies
/// never change once made. Only what every user of the host may read is copied (never `/etc/ssl/private`);
/// symlinks are copied as symlinks. Copies are made under a temporary name and renamed into place, so
/// runners starting at once never see half a copy.
enum EtcCopy {
    /// Bounds on what is copied: entries and bytes (a host's `/etc/ssl/certs` holds a few hundred entries).
    static let maxEntries = 20_000
    static let maxBytes = 64 << 20

    /// The prepared copy under `root` (made if missing), or why there is none.
    static func prepare(under root: String, entries: [String] = Sandbox.etcEntries) -> Result<String, RunnerError> {
        var signature = Signature()
        var count = 0
        for entry in entries { Self.sign(entry, into: &signature, count: &count) }
        let path = "\(root)/.etc-\(signature.hex)"
        var info = stat()
        if lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR && info.st_uid == geteuid() {
            return .success(path)
        }
        let temporary = "\(root)/.etc-tmp-\(getpid())"
        Self.remove(temporary)
        guard mkdir(temporary, 0o755) == 0 else {
            return .failure(RunnerError(.spawn, "cannot create \(temporary): \(String(cString: strerror(errno)))"))
        }
        var budget = (entries: Self.maxEntries, bytes: Self.maxBytes)
        for entry in entries {
            let name = entry.split(separator: "/").last.map(String.init) ?? entry
            Self.copy(entry, to: "\(temporary)/\(name)", budget: &budget)
        }
        if rename(temporary, path) != 0 {
            let failure = errno
            Self.remove(temporary)
            // Another runner made the same copy meanwhile.
            guard lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR else {
                return .failure(RunnerError(.spawn, "cannot create \(path): \(String(cString: strerror(failure)))"))
            }
        }
        return .success(path)
    }

    /// FNV-1a over the metadata of everything copied.
    struct Signature {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        mutating func add(_ value: UInt64) {
            for shift in stride(from: 0, to: 64, by: 8) {
                self.hash = (self.hash ^ ((value >> UInt64(shift)) & 0xFF)) &* 0x100_0000_01B3
            }
        }
        mutating func add(_ text: String) {
            for byte in text.utf8 { self.hash = (self.hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
            self.add(0)
        }
        var hex: String {
            let digits = Array("0123456789abcdef".utf8)
            var bytes: [UInt8] = []
            for shift in stride(from: 60, through: 0, by: -4) {
                bytes.append(digits[Int((self.hash >> UInt64(shift)) & 0xF)])
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Adds `path` to the signature: its metadata, and for a directory its entries'. A symlink inside a
    /// directory is not looked at: making, removing or replacing one changes the directory's modification time.
    static func sign(_ path: String, into signature: inout Signature, count: inout Int) {
        count += 1
        guard count <= Self.maxEntries else { return }
        signature.add(path)
        var info = stat()
        guard lstat(path, &info) == 0 else { return signature.add(0) }
        signature.add(UInt64(info.st_mode))
        signature.add(UInt64(truncatingIfNeeded: info.st_ino))
        signature.add(UInt64(truncatingIfNeeded: info.st_size))
        signature.add(UInt64(truncatingIfNeeded: info.st_mtim.tv_sec))
        signature.add(UInt64(truncatingIfNeeded: info.st_mtim.tv_nsec))
        guard info.st_mode & S_IFMT == S_IFDIR, info.st_mode & 0o005 == 0o005 else { return }
        for (name, type) in Self.entries(in: path) where type != UInt8(DT_LNK) {
            Self.sign("\(path)/\(name)", into: &signature, count: &count)
        }
    }

    /// The entries of directory `path` with their `d_type`, sorted by name (without `.` and `..`).
    static func entries(in path: String) -> [(String, UInt8)] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var entries: [(String, UInt8)] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { entries.append((name, entry.pointee.d_type)) }
        }
        return entries.sorted { $0.0 < $1.0 }
    }

    /// The names in directory `path`, sorted.
    static func names(in path: String) -> [String] { Self.entries(in: path).map(\.0) }

    /// Copies `source` to `destination` if every user may read it: files, symlinks and directories.
    static func copy(_ source: String, to destination: String, budget: inout (entries: Int, bytes: Int)) {
        guard budget.entries > 0 else { return }
        budget.entries -= 1
        var info = stat()
        guard lstat(source, &info) == 0 else { return }
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            var buffer = [CChar](repeating: 0, count: 4096)
            let count = readlink(source, &buffer, buffer.count - 1)
            guard count > 0 else { return }
            buffer[count] = 0
            _ = symlink(buffer, destination)
        case S_IFDIR:
            guard info.st_mode & 0o005 == 0o005, mkdir(destination, 0o755) == 0 else { return }
            for name in Self.names(in: source) {
                Self.copy("\(source)/\(name)", to: "\(destination)/\(name)", budget: &budget)
            }
        case S_IFREG:
            guard info.st_mode & 0o004 != 0, Int(info.st_size) <= budget.bytes else { return }
            let input = open(source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
            guard input >= 0 else { return }
            defer { close(input) }
            let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard output >= 0 else { return }
            defer { close(output) }
            var chunk = [UInt8](repeating: 0, count: 65536)
            while budget.bytes > 0 {
                let count = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, min($0.count, budget.bytes)) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                budget.bytes -= count
                POSIX.writeAll(output, Array(chunk[0..<count]))
            }
        default:
            return
        }
    }

    /// Removes a directory tree this runner made (best effort; symlinks are removed, never followed).
    static func remove(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            for name in Self.names(in: path) { Self.remove("\(path)/\(name)") }
            _ = rmdir(path)
        } else {
            _ = unlink(path)
        }
    }
}

/// Puts a sandbox in its memory cgroup once bwrap has built it, instead of before bwrap starts.
///
/// Joining a memory cgroup waits for the kernel's cgroup lock, and bwrap building its namespaces inside a fresh
/// memory cgroup is slower still; together they cost milliseconds of every sandboxed start. So bwrap starts in
/// the runner's cgroup with `--info-fd 3 --block-fd 4`: it reports the PID of the sandbox's first process (PID 1
/// of the sandbox's namespace) on descriptor 3 right after creating it, builds the sandbox meanwhile, and waits
/// on descriptor 4 before it starts the container's command. The runner moves that process into the cgroup and
/// only then lets it go on, so the command and everything it starts are in the cgroup from their first
/// instruction. If the move fails, bwrap is killed: the command never runs outside its limit.
struct CgroupHandshake {
    /// bwrap's options for the handshake, with the descriptors ``childDescriptors`` become.
    static let bwrapOptions = ["--info-fd", "3", "--block-fd", "4"]

    let info: (read: Int32, write: Int32)
    let block: (read: Int32, write: Int32)

    init() throws(RunnerError) {
        self.info = try ContainerSupervisor.pipe()
        do {
            self.block = try ContainerSupervisor.pipe()
        } catch {
            close(self.info.read)
            close(self.info.write)
            throw error
        }
    }

    /// The descriptors bwrap gets as 3 (where it writes) and 4 (where it waits).
    var childDescriptors: [Int32] { [self.info.write, self.block.read] }

    /// Closes every descriptor (when bwrap could not be started).
    func abandon() {
        for fd in [self.info.read, self.info.write, self.block.read, self.block.write] { close(fd) }
    }

    /// After bwrap `pid` started: moves its sandbox into `cgroup`, then lets the command start. On failure bwrap's
    /// process group is killed and the error says why.
    func complete(bwrap pid: pid_t, cgroup: MemoryCgroup) throws(RunnerError) {
        close(self.info.write)
        close(self.block.read)
        defer {
            close(self.info.read)
            close(self.block.write)
        }
        guard let sandboxPID = Self.childPID(reading: self.info.read) else {
            _ = sendSignal(-pid, SIGKILL)
            throw RunnerError(.spawn, "bwrap exited before it reported its sandbox (see the container's stderr)")
        }
        guard cgroup.add(sandboxPID) else {
            let reason = String(cString: strerror(errno))
            _ = sendSignal(-pid, SIGKILL)
            throw RunnerError(.spawn, "cannot move the sandbox into its memory cgroup \(cgroup.path): \(reason)")
        }
        var release = UInt8(ascii: "x")
        guard write(self.block.write, &release, 1) == 1 else {
            _ = sendSignal(-pid, SIGKILL)
            throw RunnerError(.spawn, "cannot release the sandbox: \(String(cString: strerror(errno)))")
        }
    }

    /// The `"child-pid"` of the JSON bwrap writes on its info descriptor, read to the end (bwrap closes it once
    /// written: closing it earlier would kill bwrap with `SIGPIPE` halfway, leaving its sandbox waiting forever);
    /// nil when bwrap wrote no PID (it failed). Reads at most 64 KiB.
    static func childPID(reading fd: Int32) -> pid_t? {
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while text.count < 65536 {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            text += chunk[0..<count]
        }
        return Self.childPID(in: text, complete: true)
    }

    /// The PID after `"child-pid":` in `text`, once a character that is not a digit follows it (or `complete`).
    static func childPID(in text: [UInt8], complete: Bool = false) -> pid_t? {
        let key = Array("\"child-pid\"".utf8)
        guard text.count >= key.count,
            let start = (0...(text.count - key.count)).first(where: { text[$0..<($0 + key.count)].elementsEqual(key) })
        else { return nil }
        var index = start + key.count
        while index < text.count, [UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: ":")].contains(text[index]) {
            index += 1
        }
        let digits = text[index...].prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        guard !digits.isEmpty, digits.count <= 9, complete || index + digits.count < text.count,
            let pid = pid_t(String(decoding: digits, as: UTF8.self)), pid > 0
        else { return nil }
        return pid
    }
}
