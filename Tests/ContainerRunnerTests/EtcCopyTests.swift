import DispatchTestSupport
import Foundation
import Testing

@testable import ContainerRunner

#if canImport(Glibc)
import Glibc
#endif

/// The prepared `/etc` copy the sandbox binds in one mount instead of one mount per entry.
@Suite("Sandbox /etc copy")
struct EtcCopyTests {
    @Test("Copies what every user may read, keeps symlinks, leaves out private files, and is reused until /etc changes")
    func copy() throws {
        let host = try TemporaryDirectory(prefix: "etc-host")
        defer { host.remove() }
        let root = try TemporaryDirectory(prefix: "etc-root")
        defer { root.remove() }
        let etc = host.path
        try "root:x:0:0::/root:/bin/sh\n".write(toFile: "\(etc)/passwd", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "\(etc)/ssl/certs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(etc)/ssl/private", withIntermediateDirectories: true)
        chmod("\(etc)/ssl/private", 0o700)
        try "PRIVATE".write(toFile: "\(etc)/ssl/private/server.key", atomically: false, encoding: .utf8)
        try "CERTS".write(toFile: "\(etc)/ssl/certs/bundle.crt", atomically: false, encoding: .utf8)
        symlink("/usr/share/ca-certificates/x.crt", "\(etc)/ssl/certs/x.pem")
        try "secret: token".write(toFile: "\(etc)/secret.conf", atomically: false, encoding: .utf8)
        chmod("\(etc)/secret.conf", 0o600)
        let entries = ["passwd", "ssl", "secret.conf", "missing"].map { "\(etc)/\($0)" }

        let first = try EtcCopy.prepare(under: root.path, entries: entries, reuseWindow: 0).get()
        #expect(try String(contentsOfFile: "\(first)/passwd", encoding: .utf8).hasPrefix("root:x:0:0"))
        #expect(try String(contentsOfFile: "\(first)/ssl/certs/bundle.crt", encoding: .utf8) == "CERTS")
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: "\(first)/ssl/certs/x.pem")
                == "/usr/share/ca-certificates/x.crt"
        )
        // Not readable by every user on the host: not copied.
        #expect(!FileManager.default.fileExists(atPath: "\(first)/ssl/private"))
        #expect(!FileManager.default.fileExists(atPath: "\(first)/secret.conf"))
        #expect(!FileManager.default.fileExists(atPath: "\(first)/missing"))

        // Unchanged host: the same copy.
        #expect(try EtcCopy.prepare(under: root.path, entries: entries, reuseWindow: 0).get() == first)
        // A change inside a copied directory makes a new copy with the new content.
        try "CERTS 2".write(toFile: "\(etc)/ssl/certs/new.crt", atomically: false, encoding: .utf8)
        let second = try EtcCopy.prepare(under: root.path, entries: entries, reuseWindow: 0).get()
        #expect(second != first)
        #expect(try String(contentsOfFile: "\(second)/ssl/certs/new.crt", encoding: .utf8) == "CERTS 2")
        // No temporary copy is left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.contains("tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test("With a prepared copy, /etc is one read-only mount of the copy, never of the host's /etc")
    func oneMount() {
        let arguments = Sandbox.arguments(
            .init(workDirectory: "/w/c1", etcCopy: "/w/.etc-0123"),
            command: ["true"],
            probe: { $0 == "/usr" ? .directory : $0.hasPrefix("/etc/") ? .file : .missing }
        )
        var binds: [String] = []
        for (index, argument) in arguments.enumerated() where argument == "--ro-bind" || argument == "--ro-bind-try" {
            binds.append("\(arguments[index + 1])->\(arguments[index + 2])")
        }
        #expect(binds == ["/usr->/usr", "/w/.etc-0123->/etc"])
    }

    @Test("A working root another user made in a shared directory is refused")
    func foreignRoot() throws {
        let shared = try TemporaryDirectory(prefix: "shared-root")
        defer { shared.remove() }
        let planted = "\(shared.path)/planted"
        symlink("/etc", planted)
        #expect(Sandbox.ownedDirectory(planted, mode: 0o711) != nil)
        let mine = "\(shared.path)/mine"
        #expect(Sandbox.ownedDirectory(mine, mode: 0o711) == nil)
        #expect(Sandbox.ownership(mine)?.mode == 0o711)
        if getuid() == 0 {
            let foreign = "\(shared.path)/foreign"
            mkdir(foreign, 0o777)
            chown(foreign, 65534, 65534)
            #expect(Sandbox.ownedDirectory(foreign, mode: 0o711)?.contains("owned by uid 65534") == true)
        }
    }
}
