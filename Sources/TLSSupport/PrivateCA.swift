import Crypto
public import Foundation
import SwiftASN1
import X509

/// A private certificate authority and a server certificate it signs, for `dispatch-cloud tls init`: clients
/// trust the CA certificate explicitly instead of skipping verification.
///
/// Keys are ECDSA P-256; the CA may sign server certificates only (path length 0), the server certificate names
/// every host it is reached at (DNS names and IP addresses) in its subject alternative names.
public struct PrivateCA: Sendable {
    /// The CA certificate, PEM: what clients trust.
    public var caCertificatePEM: String
    /// The CA's private key, PEM (PKCS #8): signs further server certificates; keep it private.
    public var caKeyPEM: String
    /// The server certificate, PEM, followed by nothing else (the CA is not part of the served chain).
    public var serverCertificatePEM: String
    /// The server's private key, PEM (PKCS #8).
    public var serverKeyPEM: String

    /// Makes a CA valid for `caValidity` and a server certificate for `hosts` valid for `serverValidity`, both
    /// from `now` (backdated an hour, for clocks that lag).
    ///
    /// - Parameter hosts: DNS names and IPv4 or IPv6 addresses; the first becomes the server's common name.
    public static func generate(
        hosts: [String],
        now: Date = Date(),
        caValidity: TimeInterval = 10 * 365 * 86400,
        serverValidity: TimeInterval = 825 * 86400
    ) throws(TLSError) -> PrivateCA {
        guard let commonName = hosts.first else {
            throw TLSError(.generation, "a server certificate needs at least one host name or address")
        }
        let names = try hosts.map { host throws(TLSError) in try Self.generalName(host) }
        let start = now.addingTimeInterval(-3600)
        let caKey = P256.Signing.PrivateKey()
        let serverKey = P256.Signing.PrivateKey()
        do {
            let caName = try DistinguishedName {
                OrganizationName("DispatchCloud")
                CommonName("DispatchCloud private CA")
            }
            let caPublicKey = Certificate.PublicKey(caKey.publicKey)
            let ca = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: caPublicKey,
                notValidBefore: start,
                notValidAfter: now.addingTimeInterval(caValidity),
                issuer: caName,
                subject: caName,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: caPublicKey)
                },
                issuerPrivateKey: Certificate.PrivateKey(caKey)
            )
            let serverName = try DistinguishedName {
                OrganizationName("DispatchCloud")
                CommonName(commonName)
            }
            let serverPublicKey = Certificate.PublicKey(serverKey.publicKey)
            let server = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: serverPublicKey,
                notValidBefore: start,
                notValidAfter: now.addingTimeInterval(min(serverValidity, caValidity)),
                issuer: caName,
                subject: serverName,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([.serverAuth])
                    SubjectAlternativeNames(names)
                    SubjectKeyIdentifier(hash: serverPublicKey)
                    AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: caPublicKey).keyIdentifier)
                },
                issuerPrivateKey: Certificate.PrivateKey(caKey)
            )
            return PrivateCA(
                caCertificatePEM: try ca.serializeAsPEM().pemString + "\n",
                caKeyPEM: caKey.pemRepresentation + "\n",
                serverCertificatePEM: try server.serializeAsPEM().pemString + "\n",
                serverKeyPEM: serverKey.pemRepresentation + "\n"
            )
        } catch {
            throw TLSError(.generation, "cannot make the certificates: \(error)", cause: error)
        }
    }

    /// A DNS name or an IP address as a subject alternative name.
    static func generalName(_ host: String) throws(TLSError) -> GeneralName {
        let trimmed = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if let bytes = IPAddressBytes.parse(trimmed) {
            return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes)))
        }
        let allowed = trimmed.allSatisfy {
            $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "*")
        }
        guard !trimmed.isEmpty, trimmed.utf8.count <= 253, allowed else {
            throw TLSError(.generation, "\"\(host.prefix(64))\" is neither a host name nor an IP address")
        }
        return .dnsName(trimmed.lowercased())
    }
}

/// IPv4 and IPv6 text to bytes, through the C library's parser.
enum IPAddressBytes {
    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}
