import Crypto
import DispatchTestSupport
import Foundation
import NIOSSL
import SwiftASN1
import TLSSupport
import Testing
import X509

@Suite struct PEMValueTests {
    @Test func inlinePEMIsUsedAsGiven() throws {
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        #expect(try PEMValue.load("  " + pem, key: "TLS.Certificate") == Array(("  " + pem).utf8))
        #expect(PEMValue.isWellFormed(pem))
    }

    @Test func fileURLIsRead() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write("-----BEGIN X-----\n", to: "a b.pem")
        let url = "file://" + path.replacingOccurrences(of: " ", with: "%20")
        #expect(try PEMValue.load(url, key: "TLS.Key") == Array("-----BEGIN X-----\n".utf8))
    }

    @Test func otherValuesAreRefusedNamingTheKey() {
        for value in ["", "etc/ssl/cert.pem", "/", "file://relative", "http://example/cert.pem", "MIIB"] {
            #expect(!PEMValue.isWellFormed(value))
            #expect(throws: TLSError.self) { try PEMValue.load(value, key: "TLS.Certificate") }
            do {
                _ = try PEMValue.load(value, key: "TLS.Certificate")
            } catch {
                #expect(error.message.hasPrefix("TLS.Certificate "))
                #expect(!error.message.contains("\n"))
            }
        }
    }

    @Test func missingAndOversizedFilesAreRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: TLSError.self) { try PEMValue.load("file://" + directory.file("none"), key: "TLS.Key") }
        let big = try directory.write(String(repeating: "A", count: PEMValue.maximumBytes + 1), to: "big.pem")
        do {
            _ = try PEMValue.load("file://" + big, key: "TLS.Key")
            Issue.record("an oversized file was read")
        } catch {
            #expect(error.message.contains("larger than"))
        }
    }
}

@Suite struct PrivateCATests {
    @Test func serverCertificateVerifiesAgainstTheCAForEachHost() async throws {
        let now = Date()
        let generated = try PrivateCA.generate(hosts: ["localhost", "127.0.0.1", "::1", "dispatch.example"], now: now)
        let ca = try Certificate(pemEncoded: generated.caCertificatePEM)
        let server = try Certificate(pemEncoded: generated.serverCertificatePEM)
        #expect(server.notValidAfter > now.addingTimeInterval(800 * 86400))
        for (hostname, ip) in [("localhost", nil), (nil, "127.0.0.1"), (nil, "::1"), ("dispatch.example", nil)] {
            var verifier = Verifier(rootCertificates: CertificateStore([ca])) {
                RFC5280Policy()
                ServerIdentityPolicy(serverHostname: hostname, serverIP: ip)
            }
            let result = await verifier.validate(leaf: server, intermediates: CertificateStore())
            guard case .validCertificate = result else {
                Issue.record("\(hostname ?? ip ?? "?"): \(result)")
                continue
            }
        }
        var other = Verifier(rootCertificates: CertificateStore([ca])) {
            RFC5280Policy()
            ServerIdentityPolicy(serverHostname: "elsewhere.example", serverIP: nil)
        }
        guard case .couldNotValidate = await other.validate(leaf: server, intermediates: CertificateStore()) else {
            Issue.record("a name not in the certificate was accepted")
            return
        }
    }

    @Test func keysMatchTheirCertificates() throws {
        let generated = try PrivateCA.generate(hosts: ["localhost"])
        let identity = try ServerIdentity(certificate: generated.serverCertificatePEM, key: generated.serverKeyPEM)
        #expect(identity.current.chain.count == 1)
        // The CA's certificate may sign certificates only, not handshakes.
        #expect(throws: TLSError.self) {
            try ServerIdentity(certificate: generated.caCertificatePEM, key: generated.caKeyPEM)
        }
    }

    @Test func badHostsAreRefused() {
        #expect(throws: TLSError.self) { try PrivateCA.generate(hosts: []) }
        #expect(throws: TLSError.self) { try PrivateCA.generate(hosts: ["a b"]) }
        #expect(throws: TLSError.self) { try PrivateCA.generate(hosts: ["host\n"]) }
    }

    @Test func privateFilesAreOwnerOnly() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("key.pem")
        try PEMFiles.writePrivate("secret", to: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "secret")
    }
}

@Suite struct ServerIdentityTests {
    @Test func aKeyOfAnotherCertificateIsRefusedNamingTLSKey() throws {
        let first = try PrivateCA.generate(hosts: ["localhost"])
        let second = try PrivateCA.generate(hosts: ["localhost"])
        do {
            _ = try ServerIdentity(certificate: first.serverCertificatePEM, key: second.serverKeyPEM)
            Issue.record("a mismatched key was accepted")
        } catch {
            #expect(error.message.hasPrefix("TLS.Key is not the private key of TLS.Certificate"))
        }
        #expect(throws: TLSError.self) {
            try ServerIdentity(certificate: "-----BEGIN CERTIFICATE-----\nxx\n", key: first.serverKeyPEM)
        }
        #expect(throws: TLSError.self) {
            try ServerIdentity(certificate: first.serverCertificatePEM, key: "-----BEGIN PRIVATE KEY-----\nxx\n")
        }
    }

    @Test func reloadReadsTheFilesAgainAndKeepsTheOldIdentityOnFailure() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try PrivateCA.generate(hosts: ["localhost"], serverValidity: 10 * 86400)
        let certificate = try directory.write(first.serverCertificatePEM, to: "cert.pem")
        let key = try directory.write(first.serverKeyPEM, to: "key.pem")
        let identity = try ServerIdentity(certificate: "file://" + certificate, key: "file://" + key)
        let before = identity.notValidAfter
        #expect(before < Date().addingTimeInterval(11 * 86400))

        let second = try PrivateCA.generate(hosts: ["localhost"], serverValidity: 400 * 86400)
        try directory.write(second.serverCertificatePEM, to: "cert.pem")
        // Half-replaced: the new certificate with the old key. The reload fails; the old identity stays.
        #expect(throws: TLSError.self) { try identity.reload() }
        #expect(identity.notValidAfter == before)
        try directory.write(second.serverKeyPEM, to: "key.pem")
        try identity.reload()
        #expect(identity.notValidAfter > Date().addingTimeInterval(399 * 86400))
        #expect(identity.current.chain == (try NIOSSLCertificate.fromPEMBytes(Array(second.serverCertificatePEM.utf8))))
    }
}
