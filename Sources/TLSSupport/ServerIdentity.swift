public import Foundation
import NIOCore
public import NIOSSL
import SwiftASN1
import Synchronization
import X509

/// A server's certificate chain and private key, read from Arvados's `TLS.Certificate` and `TLS.Key` values and
/// re-read on demand (SIGHUP) without restarting the listener.
///
/// ``serverConfiguration()`` returns a TLS configuration whose context callback hands each new handshake the
/// identity current at that moment: a ``reload()`` changes what new connections see, and connections already
/// established keep theirs, so nothing in flight is dropped.
public final class ServerIdentity: Sendable {
    /// One loaded certificate chain and key, checked to belong together.
    public struct Material: Sendable {
        public var chain: [NIOSSLCertificate]
        public var key: NIOSSLPrivateKey
        /// When the leaf certificate expires.
        public var notValidAfter: Date
        /// When the leaf certificate starts to be valid.
        public var notValidBefore: Date
        /// The chain's last certificate, PEM, when it is a self-signed CA (a private CA served with the chain,
        /// as `dispatch-cloud tls init` writes it): what this dispatcher and its runners trust for the API.
        public var privateCAPEM: String?
    }

    /// The `TLS.Certificate` value (a `file://` URL or inline PEM).
    public let certificateValue: String
    private let keyValue: String
    private let material: Mutex<Material>

    /// Reads and checks the certificate and key; throws naming the key at fault.
    public init(certificate: String, key: String) throws(TLSError) {
        self.certificateValue = certificate
        self.keyValue = key
        self.material = Mutex(try Self.load(certificate: certificate, key: key))
    }

    /// The identity new handshakes use.
    public var current: Material { self.material.withLock { $0 } }

    /// When the certificate in use expires.
    public var notValidAfter: Date { self.current.notValidAfter }

    /// Reads the certificate and key again; on failure the identity in use stays and the error says why.
    @discardableResult
    public func reload() throws(TLSError) -> Material {
        let fresh = try Self.load(certificate: self.certificateValue, key: self.keyValue)
        self.material.withLock { $0 = fresh }
        return fresh
    }

    /// A server TLS configuration serving the current identity at every handshake.
    public func serverConfiguration() -> TLSConfiguration {
        let initial = self.current
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: initial.chain.map { .certificate($0) },
            privateKey: .privateKey(initial.key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.sslContextCallback = { [self] _, promise in
            let material = self.current
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = material.chain.map { .certificate($0) }
            override.privateKey = .privateKey(material.key)
            promise.succeed(override)
        }
        return configuration
    }

    /// Loads and checks a certificate chain and key: both parse, and the key is the leaf certificate's.
    public static func load(certificate: String, key: String) throws(TLSError) -> Material {
        let certificatePEM = try PEMValue.load(certificate, key: "TLS.Certificate")
        let keyPEM = try PEMValue.load(key, key: "TLS.Key")
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(certificatePEM)
        } catch {
            throw TLSError(.invalidMaterial, "TLS.Certificate holds no readable PEM certificate", cause: error)
        }
        guard let leaf = chain.first else {
            throw TLSError(.invalidMaterial, "TLS.Certificate holds no PEM certificate")
        }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(bytes: keyPEM, format: .pem)
        } catch {
            throw TLSError(.invalidMaterial, "TLS.Key holds no readable PEM private key", cause: error)
        }
        do {
            // Building a context checks that the key is the certificate's.
            _ = try NIOSSLContext(
                configuration: .makeServerConfiguration(
                    certificateChain: chain.map { .certificate($0) },
                    privateKey: .privateKey(privateKey)
                )
            )
        } catch {
            throw TLSError(
                .invalidMaterial,
                "TLS.Key is not the private key of TLS.Certificate, or the certificate may not serve TLS",
                cause: error
            )
        }
        return Material(
            chain: chain,
            key: privateKey,
            notValidAfter: Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter)),
            notValidBefore: Date(timeIntervalSince1970: TimeInterval(leaf.notValidBefore)),
            privateCAPEM: chain.count > 1 ? Self.selfSignedCA(String(decoding: certificatePEM, as: UTF8.self)) : nil
        )
    }

    /// The last certificate of a PEM chain, re-encoded, if it is a CA that signed itself.
    static func selfSignedCA(_ pem: String) -> String? {
        guard let documents = try? PEMDocument.parseMultiple(pemString: pem),
            let last = documents.last(where: { $0.discriminator == "CERTIFICATE" }),
            let certificate = try? Certificate(derEncoded: last.derBytes),
            certificate.issuer == certificate.subject,
            let constraints = try? certificate.extensions.basicConstraints,
            case .isCertificateAuthority = constraints
        else { return nil }
        return last.pemString + "\n"
    }
}
