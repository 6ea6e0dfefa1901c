import DispatchModel

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
            return POSIX.readLink(path).map { .symlink($0) } ?? .missing
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
        /// bwrap's descriptor from which the sandbox reads a byte once it is built (``SandboxReadiness``); nil:
        /// none.
        var readinessDescriptor: Int32?
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
        if let descriptor = layout.readinessDescriptor { arguments += ["--block-fd", String(descriptor)] }
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
}

/// A memory cgroup (v1) holding one container, with its RAM limit.
struct MemoryCgroup: Sendable {
    /// The cgroup's directory.
    let path: String
    /// `tasks`, open for writing (close-on-exec): the spawned child writes "0" to it before its exec, moving itself.
    ///
    /// Not `cgroup.procs`: a write there takes the kernel's global cgroup threadgroup lock for writing, and the
    /// first writer after a quiet spell waits out an RCU grace period (7–15 ms on this machine) before it gets it.
    /// A single-threaded process moving itself through `tasks` ("0" is the writer itself) needs no such lock
    /// (0.04 ms), and the child between its fork and its exec is single-threaded, so everything it starts, bwrap and
    /// the whole sandbox, is in the cgroup from its first instruction.
    let tasks: Int32

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
        let tasks = open(path + "/tasks", O_WRONLY | O_CLOEXEC)
        guard tasks >= 0 else {
            rmdir(path)
            return .failure(RunnerError(.spawn, "cannot open \(path)/tasks"))
        }
        return .success(MemoryCgroup(path: path, tasks: tasks))
    }

    /// The name of the memory cgroup the supervisor with PID `supervisor` makes for container `uuid`.
    static func name(uuid: ContainerUUID, supervisor: pid_t) -> String {
        "dispatch-runner-\(uuid.rawValue)-\(supervisor)"
    }

    /// Where a cgroup `name` made by this process goes: under this process's own memory cgroup, else under the
    /// hierarchy's root; nil without a hierarchy.
    static func path(name: String) -> String? {
        guard let base = Self.ownDirectory() ?? (POSIX.isDirectory(Self.mountPoint) ? Self.mountPoint : nil) else {
            return nil
        }
        return (base.hasSuffix("/") ? base : base + "/") + name
    }

    /// This process's own memory cgroup's directory, when the hierarchy has one.
    static func ownDirectory() -> String? {
        Self.ownCgroup().map { Self.mountPoint + $0 }.flatMap { POSIX.isDirectory($0) ? $0 : nil }
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
        close(self.tasks)
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
///
/// Signing walks `/etc/alternatives` and `/etc/ssl/certs`, hundreds of entries (about 0.3 ms of a start), so a
/// stamp file next to the copies names the copy the last walk found: a runner starting within ``reuseWindow``
/// of that walk takes it without walking. A change to `/etc` reaches containers started after the window.
enum EtcCopy {
    /// How long after a walk its copy is taken without walking again, in seconds.
    static let reuseWindow = 2.0
    /// Bounds on what is copied: entries and bytes (a host's `/etc/ssl/certs` holds a few hundred entries).
    static let maxEntries = 20_000
    static let maxBytes = 64 << 20

    /// The prepared copy under `root` (made if missing), or why there is none.
    ///
    /// - Parameters:
    ///   - reuseWindow: how recent a walk's stamp must be to be taken without walking (0: always walk).
    ///   - now: the wall clock, in seconds since 1970.
    static func prepare(
        under root: String,
        entries: [String] = Sandbox.etcEntries,
        reuseWindow: Double = Self.reuseWindow,
        now: () -> Double = { Double(time(nil)) }
    ) -> Result<String, RunnerError> {
        var entriesSignature = Signature()
        for entry in entries { entriesSignature.add(entry) }
        let stamp = "\(root)/.etc-current-\(entriesSignature.hex)"
        if reuseWindow > 0, let recent = Self.stamped(stamp, within: reuseWindow, now: now()) {
            return .success("\(root)/\(recent)")
        }
        var signature = Signature()
        var count = 0
        for entry in entries { Self.sign(entry, into: &signature, count: &count) }
        let path = "\(root)/.etc-\(signature.hex)"
        defer { Self.writeStamp(stamp, naming: ".etc-\(signature.hex)") }
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

    /// The copy named in `stamp` when the stamp is at most `window` seconds old at `now`, is this user's own
    /// regular file, and names a copy directory of this user's that exists; else nil.
    static func stamped(_ stamp: String, within window: Double, now: Double) -> String? {
        let fd = open(stamp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid(),
            info.st_mode & 0o022 == 0
        else { return nil }
        let age = now - (Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
        guard age >= -1, age <= window else { return nil }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count == 21 else { return nil }
        let name = String(decoding: buffer[0..<count], as: UTF8.self)
        let hex = name.utf8.dropFirst(5)
        guard name.hasPrefix(".etc-"), hex.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            return nil
        }
        var copy = stat()
        let directory = (stamp.split(separator: "/", omittingEmptySubsequences: false).dropLast()).joined(
            separator: "/"
        )
        guard lstat("\(directory)/\(name)", &copy) == 0, copy.st_mode & S_IFMT == S_IFDIR, copy.st_uid == geteuid()
        else { return nil }
        return name
    }

    /// Points `stamp` at copy `name` (written aside and renamed into place: readers see one stamp or the other).
    static func writeStamp(_ stamp: String, naming name: String) {
        let temporary = "\(stamp).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let bytes = Array(name.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        if written != bytes.count || rename(temporary, stamp) != 0 { unlink(temporary) }
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
        for name in Self.names(in: path, skippingSymlinks: true) {
            Self.sign("\(path)/\(name)", into: &signature, count: &count)
        }
    }

    /// The names in directory `path` (without `.` and `..`, and without symlinks when `skippingSymlinks`),
    /// sorted by their bytes.
    ///
    /// Symlinks are skipped before any string is made: `/etc/alternatives` and `/etc/ssl/certs` hold hundreds,
    /// and every sandboxed start signs them (``prepare(under:entries:)``).
    static func names(in path: String, skippingSymlinks: Bool = false) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [[UInt8]] = []
        while let entry = readdir(directory) {
            if skippingSymlinks && entry.pointee.d_type == UInt8(DT_LNK) { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [UInt8(ascii: ".")] && name != [UInt8(ascii: "."), UInt8(ascii: ".")] { names.append(name) }
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }.map { String(decoding: $0, as: UTF8.self) }
    }

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
    static func remove(_ path: String) { POSIX.removeTree(path) }
}
