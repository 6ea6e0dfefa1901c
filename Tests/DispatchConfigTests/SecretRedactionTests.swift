import DispatchConfig
import Foundation
import Testing

/// Every secret-bearing key fed every kind of wrong value: no error, warning or rendering shows the secret
/// (issue 13, finding 7).
@Suite("Secrets in messages")
struct SecretRedactionTests {
    static let secret = "Sup3rS3cretT0ken"

    /// Where a secret may be written: a YAML fragment under the cluster with `VALUE` where the value goes.
    static let secretPlaces: [String] = [
        "SystemRootToken: VALUE",
        "ManagementToken: VALUE",
        "DispatchCloud:\n  SubmitterTokens: VALUE",
        "DispatchCloud:\n  SubmitterTokens: [ok-token, VALUE]",
        "Containers:\n  DispatchPrivateKey: VALUE",
        "TLS:\n  Key: VALUE",
        "TLS: VALUE",
        "Containers:\n  CloudVMs:\n    DriverParameters:\n      SecretAccessKey: VALUE",
        "Containers:\n  CloudVMs:\n    DriverParameters: VALUE",
        "Containers:\n  CloudVMs:\n    DriverParameters:\n      Nested: {ClientSecret: VALUE}",
    ]

    /// Where a URL, which may carry credentials, is written.
    static let urlPlaces: [String] = [
        "Services:\n  Controller:\n    ExternalURL: VALUE",
        "Services:\n  Controller:\n    InternalURLs:\n      VALUE: {}",
        "Services:\n  Controller:\n    InternalURLs:\n      VALUE: {Unknown: 1}",
        "Services:\n  DispatchCloud:\n    InternalURLs:\n      \"http://localhost:9000/\": {ListenURL: VALUE}",
    ]

    /// Each kind of wrong (and right) value, as YAML holding the secret.
    static let values: [String] =
        [
            "\"SECRET\"",
            "[\"SECRET\"]",
            "{Nested: \"SECRET\"}",
            "{Nested: {Deeper: \"SECRET\"}}",
            "12SECRET",
            "\"1e999SECRET\"",
            "\"SECRET\\nsecond line\"",
            "!!int \"SECRET\"",
            "!!float \"SECRET\"",
            "!!bool \"SECRET\"",
            "&anchor \"SECRET\"",
            "\"SECRET",
            "[\"SECRET\", [\"SECRET\"]]",
        ] + Self.urlValues

    /// URLs with credentials, well formed or not.
    static let urlValues: [String] = [
        "\"http://user:SECRET@localhost:99999/\"",
        "\"https://user:SECRET@localhost:8443/\"",
        "\"https://SECRET@localhost/\"",
        "\"https://SECRET@/\"",
        "\"user:SECRET@localhost\"",
        "\"http://user:SECRET@local host/\"",
    ]

    /// Everything the loader and the rendering print for `yaml`.
    static func output(_ yaml: String) throws -> [String] {
        let loaded: LoadedClusterConfig
        do {
            loaded = try ClusterConfig.load(yaml: yaml)
        } catch {
            // An error names a key path under the cluster, or the document for a syntax error.
            #expect(error.diagnostics.allSatisfy { !$0.keyPath.isEmpty })
            return [error.description] + error.warnings.map(\.description)
        }
        return loaded.warnings.map(\.description) + [try loaded.config.renderEffectiveYAML()]
    }

    @Test("no output of the loader or the rendering holds a secret", arguments: Self.secretPlaces)
    func noSecretInOutput(place: String) throws {
        for value in Self.values {
            // A mapping is what DriverParameters should be: its keys are not secret-looking, so it prints.
            if place.hasSuffix("DriverParameters: VALUE") && value.hasPrefix("{") { continue }
            let yaml = cluster(place.replacing("VALUE", with: value.replacing("SECRET", with: Self.secret)))
            for text in try Self.output(yaml) {
                #expect(!text.contains(Self.secret), "\(place) = \(value) printed: \(text)")
            }
        }
    }

    @Test("no output shows the credentials of a URL", arguments: Self.urlPlaces)
    func noCredentialsInOutput(place: String) throws {
        for value in Self.urlValues {
            let yaml = cluster(place.replacing("VALUE", with: value.replacing("SECRET", with: Self.secret)))
            for text in try Self.output(yaml) {
                #expect(!text.contains(Self.secret), "\(place) = \(value) printed: \(text)")
            }
        }
    }

    @Test("a secret written where a list is expected names the key and the kind, not the value")
    func submitterTokensAsScalar() throws {
        let error = try #require(loadInvalid(cluster("DispatchCloud:\n  SubmitterTokens: \(Self.secret)")))
        let diagnostic = try #require(error.diagnostics.first)
        #expect(diagnostic.keyPath == "Clusters.z1234.DispatchCloud.SubmitterTokens")
        #expect(diagnostic.message == "expected a list, got a string")
    }

    @Test("a URL's credentials are elided in messages and in the rendering, the rest is shown")
    func urlCredentials() throws {
        let error = try #require(
            loadInvalid(
                cluster("Services:\n  Controller:\n    ExternalURL: \"https://me:\(Self.secret)@localhost:99999/\"")
            )
        )
        let message = try #require(error.diagnostics.first?.message)
        #expect(message.contains("https://***@localhost:99999/"))
        #expect(message.contains("port 99999"))

        let loaded = try #require(
            loadValid(
                cluster(
                    "Services:\n  Controller:\n    ExternalURL: \"https://me:\(Self.secret)@localhost:8443/\"\n"
                        + "    InternalURLs: {\"http://me:\(Self.secret)@localhost:8000/\": {}}"
                )
            )
        )
        let rendered = try loaded.config.renderEffectiveYAML()
        #expect(!rendered.contains(Self.secret))
        #expect(rendered.contains("https://***@localhost:8443/"))
        #expect(rendered.contains("http://***@localhost:8000/"))
        // The credentials are still there for serve to use.
        #expect(loaded.config.services.controller.externalURL.contains(Self.secret))
    }
}
