import CRunnerSupport
import ContainerRunner
import DispatchTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Removing a container's directory after it ran: everything in it goes, nothing a symlink in it names does.
@Suite("Removing a container's directory")
struct RemoveTreeTests {
    @Test("Files, nested and unreadable directories go; the targets of symlinks inside stay")
    func removesWithoutFollowingSymlinks() throws {
        let root = try TemporaryDirectory(prefix: "remove-tree")
        defer { root.remove() }
        let outside = root.file("outside")
        try FileManager.default.createDirectory(atPath: outside + "/kept", withIntermediateDirectories: true)
        try #require(FileManager.default.createFile(atPath: outside + "/precious", contents: Data("keep me".utf8)))
        let tree = root.file("container")
        try FileManager.default.createDirectory(atPath: tree + "/a/b/c", withIntermediateDirectories: true)
        try #require(FileManager.default.createFile(atPath: tree + "/a/b/c/deep", contents: Data("x".utf8)))
        try #require(FileManager.default.createFile(atPath: tree + "/top", contents: Data("y".utf8)))
        // What a hostile container leaves: links to the host, and a directory nobody may enter or list.
        try #require(symlink(outside + "/precious", tree + "/file-link") == 0)
        try #require(symlink(outside, tree + "/a/dir-link") == 0)
        if getuid() == 0 {
            // Only root (the runner on an instance) can list a directory it may not read.
            try #require(mkdir(tree + "/locked", 0o755) == 0)
            try #require(FileManager.default.createFile(atPath: tree + "/locked/inside", contents: Data()))
            try #require(chmod(tree + "/locked", 0) == 0)
        }

        #expect(POSIX.removeTree(tree))
        #expect(!FileManager.default.fileExists(atPath: tree))
        #expect((try? String(contentsOfFile: outside + "/precious", encoding: .utf8)) == "keep me")
        #expect(POSIX.isDirectory(outside + "/kept"))
    }

    @Test("A symlink given as the tree is removed, not followed; a missing path counts as removed")
    func topLevelSymlinkAndMissing() throws {
        let root = try TemporaryDirectory(prefix: "remove-tree")
        defer { root.remove() }
        let target = root.file("target")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try #require(FileManager.default.createFile(atPath: target + "/file", contents: Data()))
        try #require(symlink(target, root.file("link")) == 0)
        #expect(POSIX.removeTree(root.file("link")))
        #expect(FileManager.default.fileExists(atPath: target + "/file"))
        #expect(POSIX.removeTree(root.file("never-made")))
    }

    @Test("Past the depth bound the rest stays (no unbounded recursion), and the removal says so")
    func depthBound() throws {
        let root = try TemporaryDirectory(prefix: "remove-tree")
        defer { root.remove() }
        let tree = root.file("deep")
        try FileManager.default.createDirectory(atPath: tree + "/1/2/3/4", withIntermediateDirectories: true)
        #expect(!POSIX.removeTree(tree, maxDepth: 2))
        #expect(POSIX.isDirectory(tree + "/1/2/3"))
        #expect(POSIX.removeTree(tree))
        #expect(!FileManager.default.fileExists(atPath: tree))
    }
}

/// The runner's own reads of its process: environment, temporary directory, executable, threads.
@Suite("The runner's process facts")
struct RunnerProcessFactsTests {
    @Test("The environment read from environ is ProcessInfo's")
    func environment() {
        #expect(POSIX.environment() == ProcessInfo.processInfo.environment)
    }

    @Test(
        "The temporary directory is an absolute TMPDIR without trailing slashes, else /tmp",
        arguments: [
            (String?.none, "/tmp"), ("/var/tmp/", "/var/tmp"), ("/scratch//", "/scratch"), ("/", "/"),
            ("relative/dir", "/tmp"), ("", "/tmp"),
        ]
    )
    func temporaryDirectory(tmpdir: String?, expected: String) {
        #expect(POSIX.temporaryDirectory(tmpdir.map { ["TMPDIR": $0] } ?? [:]) == expected)
    }

    @Test("The executable's path comes from /proc/self/exe")
    func executable() throws {
        let path = try #require(POSIX.readLink("/proc/self/exe"))
        #expect(path.hasPrefix("/") && access(path, X_OK) == 0)
        #expect(POSIX.readLink("/nonexistent/link") == nil)
    }

    @Test("The thread count is the number of the process's tasks")
    func threadCount() throws {
        // A thread that stays until counted, so the count cannot move between the two reads.
        let counted = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let thread = Thread {
            started.signal()
            counted.wait()
        }
        thread.start()
        started.wait()
        defer { counted.signal() }
        func tasks() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? -1 }
        // Other tests' threads come and go meanwhile: a count between two equal listings must match them.
        let agreeing = (0..<100).contains { _ in
            let before = tasks()
            let count = Int(runner_thread_count())
            return before > 1 && count == before && tasks() == before
        }
        #expect(agreeing)
    }
}
