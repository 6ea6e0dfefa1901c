import DispatchTestSupport
import Foundation
import Testing

/// The Debian package, built from this build's executables and installed into a scratch root, as CI does
/// (issue 16): the installed binary runs, checks the installed configuration, has a man page and completions,
/// and the systemd unit passes `systemd-analyze verify`.
@Suite("Packaging", .serialized)
struct PackagingTests {
    static let root = ProcessRunner.repositoryRoot()

    static func shell(_ command: String, environment: [String: String] = [:]) async throws -> ProcessOutput {
        try await ProcessRunner.run(
            URL(fileURLWithPath: "/bin/sh"),
            ["-c", command],
            environment: environment,
            currentDirectory: Self.root
        )
    }

    static func available(_ tool: String) -> Bool {
        ["/usr/bin/", "/bin/", "/usr/sbin/"].contains { FileManager.default.isExecutableFile(atPath: $0 + tool) }
    }

    @Test(
        "package-deb.sh builds a package that installs into a scratch root and runs from there",
        .enabled(if: Self.available("dpkg-deb") && Self.available("python3") && Self.available("man"))
    )
    func packageInstallsAndRuns() async throws {
        let scratch = try TemporaryDirectory(prefix: "package-deb")
        defer { scratch.remove() }
        let installRoot = scratch.file("root")
        let built = try await ProcessRunner.run(
            URL(fileURLWithPath: "/bin/bash"),
            [
                "scripts/package-deb.sh", "--build-dir", ProcessRunner.productsDirectory.path, "--output",
                scratch.file("dist"), "--compression", "none", "--install", installRoot,
            ],
            currentDirectory: Self.root
        )
        try #require(built.status == 0, "stdout: \(built.stdout)\nstderr: \(built.stderr)")
        let debs = try FileManager.default.contentsOfDirectory(atPath: scratch.file("dist"))
        #expect(debs.count == 1 && debs[0].hasPrefix("dispatch-cloud_") && debs[0].hasSuffix(".deb"), "\(debs)")

        // The installed executable runs and checks the installed configuration.
        let cli = installRoot + "/usr/bin/dispatch-cloud"
        let version = try await ProcessRunner.run(URL(fileURLWithPath: cli), ["--version"])
        #expect(version.status == 0, "\(version.stderr)")
        #expect(version.stdout.first?.isNumber == true, "\(version.stdout)")
        let checked = try await ProcessRunner.run(
            URL(fileURLWithPath: cli),
            ["check-config", "--config", installRoot + "/etc/dispatch-cloud/config.yml"]
        )
        #expect(checked.status == 0, "stderr: \(checked.stderr)")
        #expect(checked.stdout.contains("DataDirectory: /var/lib/dispatch-cloud"), "\(checked.stdout)")
        #expect(FileManager.default.isExecutableFile(atPath: installRoot + "/usr/bin/dispatch-runner"))

        // Package metadata: the configuration is a conffile.
        let conffiles = try await Self.shell("dpkg-deb -I \(scratch.file("dist"))/\(debs[0]) conffiles")
        #expect(conffiles.stdout.contains("/etc/dispatch-cloud/config.yml"), "\(conffiles.stdout)\(conffiles.stderr)")

        // The man page renders, with every subcommand.
        let manPage = installRoot + "/usr/share/man/man1/dispatch-cloud.1.gz"
        let rendered = try await Self.shell(
            "man -P cat -l '\(manPage)' | col -b",
            environment: ["MANWIDTH": "100"]
        )
        #expect(rendered.status == 0, "\(rendered.stderr)")
        for text in ["SYNOPSIS", "DISPATCH-CLOUD SUBMIT", "--wait", "DISPATCH-CLOUD CONTAINERS LIST", "EXIT STATUS"] {
            #expect(rendered.stdout.contains(text), "man page lacks \(text)")
        }
        #expect(!rendered.stderr.contains("warning"), "\(rendered.stderr)")
        #expect(FileManager.default.fileExists(atPath: installRoot + "/usr/share/man/man1/dispatch-runner.1.gz"))

        // Completions for three shells.
        let bash = try String(
            contentsOfFile: installRoot + "/usr/share/bash-completion/completions/dispatch-cloud",
            encoding: .utf8
        )
        #expect(bash.contains("complete") && bash.contains("submit"))
        #expect(
            FileManager.default.fileExists(atPath: installRoot + "/usr/share/zsh/vendor-completions/_dispatch-cloud")
        )
        #expect(
            FileManager.default.fileExists(
                atPath: installRoot + "/usr/share/fish/vendor_completions.d/dispatch-cloud.fish"
            )
        )
        #expect(FileManager.default.fileExists(atPath: installRoot + "/usr/share/doc/dispatch-cloud/operations.md"))

        // The unit, as installed, passes systemd-analyze verify (with its executable and man page looked up in
        // the scratch root).
        let unit = installRoot + "/lib/systemd/system/dispatch-cloud.service"
        let unitText = try String(contentsOfFile: unit, encoding: .utf8)
        for directive in [
            "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes", "User=dispatch-cloud",
            "StateDirectory=dispatch-cloud",
        ] {
            #expect(unitText.contains(directive), "the unit lacks \(directive)")
        }
        if Self.available("systemd-analyze") {
            let rooted = scratch.file("dispatch-cloud.service")
            try unitText.replacingOccurrences(of: "/usr/bin/dispatch-cloud", with: cli)
                .write(toFile: rooted, atomically: true, encoding: .utf8)
            let verified = try await Self.shell(
                "systemd-analyze verify '\(rooted)'",
                environment: ["MANPATH": installRoot + "/usr/share/man"]
            )
            #expect(verified.status == 0, "stdout: \(verified.stdout)\nstderr: \(verified.stderr)")
        }
    }

    @Test("scripts/check.sh adds no compiler flag on the command line, so it reuses the build of swift run")
    func oneBuild() throws {
        let script = try String(contentsOf: Self.root.appendingPathComponent("scripts/check.sh"), encoding: .utf8)
        let commands = script.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
        #expect(commands.contains { $0.contains("swift build --build-tests") })
        #expect(!commands.contains { $0.contains("-Xswiftc") }, "a -Xswiftc flag changes every dependency's compile")
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        #expect(manifest.contains("\"-warnings-as-errors\""), "warnings-as-errors belongs in Package.swift")
    }
}
