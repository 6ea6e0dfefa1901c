import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The runners of one instance, found through their lock files (`crunch-run-<uuid>.lock`, flock-held by
/// the detached runner, holding `{"UUID":"…","PID":n}`), as `dispatch-runner --list` and `--kill` find them.
struct RunnerLocks: Sendable {
    /// The instance's lock directory.
    var directory: String

    /// The PIDs recorded in the lock files that a live process still holds.
    func heldPIDs() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: self.directory)) ?? []
        return names.sorted().compactMap { name in
            guard name.hasPrefix("crunch-run-"), name.hasSuffix(".lock"), name != "crunch-run-all.lock" else {
                return nil
            }
            return self.holder(of: self.directory + "/" + name)
        }
    }

    /// Sends SIGTERM to every runner still holding a lock (what `dispatch-runner --kill 15` does per
    /// container); returns the PIDs signalled.
    @discardableResult
    func terminateAll() -> [Int32] {
        let pids = self.heldPIDs()
        for pid in pids { _ = kill(pid, SIGTERM) }
        return pids
    }

    /// The PID in the lock file at `path` if the lock is held and the PID is a live process.
    private func holder(of path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        let data = FileHandle(fileDescriptor: fd, closeOnDealloc: false).readDataToEndOfFile()
        struct Content: Decodable {
            var PID: Int32
        }
        guard let content = try? JSONDecoder().decode(Content.self, from: data), content.PID > 0,
            kill(content.PID, 0) == 0
        else { return nil }
        return content.PID
    }
}
