import DispatchConfig
import DispatchModel
import Foundation
import Testing

@testable import DispatchCloud

@Suite struct TransportSecurityTests {
    @Test("runners get crunch-run's host[:port] for http and https, and APIScheme http apart")
    func runnerAPIHost() {
        let cases: [(String, String, String?)] = [
            ("https://127.0.0.1:8443", "127.0.0.1:8443", nil),
            ("https://127.0.0.1:8443/", "127.0.0.1:8443", nil),
            ("https://api.example", "api.example", nil),
            ("https://[::1]:9000/", "[::1]:9000", nil),
            ("http://127.0.0.1:9000/", "127.0.0.1:9000", "http"),
            ("HTTP://127.0.0.1:9000", "127.0.0.1:9000", "http"),
            ("http://[::1]:9000", "[::1]:9000", "http"),
            ("https://api.example/prefix", "https://api.example/prefix", nil),
        ]
        for (url, host, scheme) in cases {
            #expect(Dispatcher.runnerAPIHost(URL(string: url)!) == host, "\(url)")
            #expect(Dispatcher.runnerAPIScheme(URL(string: url)!) == scheme, "\(url)")
        }
    }

    @Test(
        "loopback hosts",
        arguments: [
            ("localhost", true), ("127.0.0.1", true), ("127.8.9.10", true), ("::1", true), ("[::1]", true),
            ("0.0.0.0", false), ("10.0.0.1", false), ("127.0.0.256", false), ("api.example", false), ("::", false),
        ]
    )
    func loopback(host: String, expected: Bool) {
        #expect(ClusterConfig.isLoopbackHost(host) == expected)
    }

    @Test("dispatcher errors never carry a URL's credentials")
    func errorsElideCredentials() {
        let error = DispatcherError(.configuration, "cannot reach https://dispatcher:s3cr3tToken@api.example:443/x")
        #expect(!error.description.contains("s3cr3tToken"))
        #expect(error.description.contains("https://***@api.example:443/x"))

        var config = ClusterConfig(clusterID: ClusterID(rawValue: "zzzzz"))
        config.services.controller.externalURL = "dispatcher:s3cr3tToken@api.example"
        #expect(throws: DispatcherError.self) { try Dispatcher.apiURL(config) }
        do {
            _ = try Dispatcher.apiURL(config)
        } catch {
            #expect(!error.description.contains("s3cr3tToken"))
            #expect(error.description.contains("***@api.example"))
        }
    }
}
