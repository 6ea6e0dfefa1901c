import DispatchTestSupport
import Foundation
import Testing

@testable import ContainerRunner

/// The stamp that lets a runner take the last walk's `/etc` copy without walking `/etc` again.
@Suite("Sandbox /etc copy reuse")
struct EtcCopyReuseTests {
    @Test("A walk's copy is taken without walking for the reuse window, then a change to /etc shows")
    func reuseWindow() throws {
        let host = try TemporaryDirectory(prefix: "etc-host")
        defer { host.remove() }
        let root = try TemporaryDirectory(prefix: "etc-root")
        defer { root.remove() }
        try "one".write(toFile: "\(host.path)/hosts", atomically: false, encoding: .utf8)
        let entries = ["\(host.path)/hosts"]
        let start = Date().timeIntervalSince1970
        let first = try EtcCopy.prepare(under: root.path, entries: entries, now: { start }).get()
        // Changed (a new file: a new inode) within the window: the stamped copy, unwalked.
        try "two, longer".write(toFile: "\(host.path)/hosts", atomically: true, encoding: .utf8)
        #expect(try EtcCopy.prepare(under: root.path, entries: entries, now: { start + 1 }).get() == first)
        // Past the window: a walk, which finds the change.
        let later = try EtcCopy.prepare(under: root.path, entries: entries, now: { start + 10 }).get()
        #expect(later != first)
        #expect(try String(contentsOfFile: "\(later)/hosts", encoding: .utf8) == "two, longer")
        // A stamp that is not this user's plain file, or names no copy, is not trusted.
        let stamp = try #require(
            FileManager.default.contentsOfDirectory(atPath: root.path).first { $0.hasPrefix(".etc-current-") }
        )
        try "../../etc/x0123456789".write(toFile: "\(root.path)/\(stamp)", atomically: false, encoding: .utf8)
        #expect(EtcCopy.stamped("\(root.path)/\(stamp)", within: 100, now: Date().timeIntervalSince1970) == nil)
        try ".etc-00000000000000ff".write(toFile: "\(root.path)/\(stamp)", atomically: false, encoding: .utf8)
        #expect(EtcCopy.stamped("\(root.path)/\(stamp)", within: 100, now: Date().timeIntervalSince1970) == nil)
        #expect(try EtcCopy.prepare(under: root.path, entries: entries, now: { start + 10 }).get() == later)
    }
}
