import ArgumentParser
import DispatchConfig
import Foundation
import TLSSupport

/// `dispatch-cloud tls`: TLS material for the two APIs.
struct TLSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls",
        abstract: "Make TLS certificates for the container API and the management API.",
        subcommands: [TLSInitCommand.self]
    )
}

/// `dispatch-cloud tls init`: a private CA and a server certificate it signs, in the data directory.
struct TLSInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a private CA and a server certificate into the data directory.",
        discussion: """
            Writes <DataDirectory>/tls/ca.pem (the CA certificate clients trust), ca-key.pem, server.pem (the \
            server certificate followed by the CA) and server-key.pem, each readable by the owner only, and \
            prints the TLS line to add to the cluster section. The dispatcher then serves https:// on every \
            InternalURLs entry written https://, trusts that CA itself and hands it to its runners; other \
            clients trust it explicitly: `dispatch-cloud containers --ca-file ca.pem`, ARVADOS_API_CA=ca.pem, \
            or SSL_CERT_FILE=ca.pem for the Arvados Python SDK.
            """
    )

    @OptionGroup var configOptions: ConfigOptions

    @Option(
        name: .customLong("hosts"),
        help: ArgumentHelp(
            "Comma-separated host names and IP addresses the server certificate is for.",
            discussion: "Default: localhost, 127.0.0.1, ::1 and the hosts of the configured service URLs.",
            valueName: "name,ip,…"
        )
    )
    var hosts: String?

    @Flag(name: .customLong("force"), help: "Replace existing files.")
    var force = false

    @Option(name: .customLong("days"), help: "Days the server certificate is valid (at most 825).")
    var days = 825

    func run() async throws {
        // The URLs may already say https://: this command makes what they need.
        let config = try self.configOptions.load(checkingTransportSecurity: false).config
        guard (1...825).contains(self.days) else {
            printToStandardError("error: --days must be between 1 and 825")
            throw ExitCode(2)
        }
        let hosts = self.hostList(config)
        let directory = config.dispatchCloud.dataDirectory + "/tls"
        let files = TLSFiles(directory: directory)
        if !self.force, let existing = files.all.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            printToStandardError("error: \(existing) exists; pass --force to replace the CA and certificate")
            throw ExitCode(1)
        }
        do {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            printToStandardError("error: cannot create \(directory): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        do throws(TLSError) {
            let generated = try PrivateCA.generate(hosts: hosts, serverValidity: TimeInterval(self.days) * 86400)
            try PEMFiles.writePrivate(generated.caCertificatePEM, to: files.caCertificate)
            try PEMFiles.writePrivate(generated.caKeyPEM, to: files.caKey)
            try PEMFiles.writePrivate(
                generated.serverCertificatePEM + generated.caCertificatePEM,
                to: files.certificate
            )
            try PEMFiles.writePrivate(generated.serverKeyPEM, to: files.key)
        } catch {
            printToStandardError("error: \(error.message)")
            throw ExitCode(1)
        }
        printToStandardError(
            "Wrote \(directory)/{ca.pem,ca-key.pem,server.pem,server-key.pem} for \(hosts.joined(separator: ", "))."
        )
        printToStandardError(
            "Add this line to Clusters.\(config.clusterID) and write the InternalURLs and ExternalURL as https://:"
        )
        print("    TLS: {Certificate: \"file://\(files.certificate)\", Key: \"file://\(files.key)\"}")
        printToStandardError(
            "Clients trust \(files.caCertificate): --ca-file, ARVADOS_API_CA, or SSL_CERT_FILE (Python SDK)."
        )
    }

    /// `--hosts`, else this host's loopback names and the hosts of the configured URLs.
    func hostList(_ config: ClusterConfig) -> [String] {
        if let hosts = self.hosts {
            return hosts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        var hosts = ["localhost", "127.0.0.1", "::1"]
        let services = [config.services.controller, config.services.dispatchCloud]
        let urls = services.flatMap { [$0.externalURL] + $0.internalURLs.flatMap { [$0.url, $0.listenURL] } }
        for text in urls {
            guard let host = URL(string: text)?.host, !host.isEmpty, host != "0.0.0.0", host != "::" else { continue }
            let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
            if !hosts.contains(bare) { hosts.append(bare) }
        }
        return hosts
    }
}

/// Where `tls init` writes.
struct TLSFiles {
    let directory: String
    var caCertificate: String { self.directory + "/ca.pem" }
    var caKey: String { self.directory + "/ca-key.pem" }
    var certificate: String { self.directory + "/server.pem" }
    var key: String { self.directory + "/server-key.pem" }
    var all: [String] { [self.caCertificate, self.caKey, self.certificate, self.key] }
}
