import ContainerRunner
import Foundation
import Testing

/// `--stdin-config` read as `crunch-run` reads `ConfigData`, plus DispatchCloud's `APIScheme`.
@Suite("Runner ConfigData")
struct RunnerConfigDataTests {
    static func read(_ json: String) throws -> RunnerConfiguration {
        try RunnerConfiguration.read(
            stdin: Data(json.utf8),
            arguments: try RunnerArguments(parsing: ["--detach", "--stdin-config", "zzzzz-dz642-000000000000001"]),
            processEnvironment: [:]
        )
    }

    @Test(
        "ARVADOS_API_HOST is host:port; APIScheme http makes it plain HTTP, absent or https means HTTPS",
        arguments: [
            (#""APIScheme":"http","#, "127.0.0.1:9005", "http://127.0.0.1:9005"),
            (#""APIScheme":"HTTP","#, "[::1]:9005", "http://[::1]:9005"),
            ("", "127.0.0.1:9005", "https://127.0.0.1:9005"),
            (#""APIScheme":"https","#, "api.example", "https://api.example"),
            (#""APIScheme":"http","#, "https://api.example:8443", "https://api.example:8443"),
        ]
    )
    func apiScheme(scheme: String, host: String, expected: String) throws {
        let configuration = try Self.read(
            #"{\#(scheme)"Env":{"ARVADOS_API_HOST":"\#(host)","ARVADOS_API_TOKEN":"t"},"KeepBuffers":2,"EC2SpotCheck":true,"Cluster":null}"#
        )
        #expect(try configuration.apiAddress().description == expected)
        #expect(configuration.keepBuffers == 2)
        #expect(configuration.ec2SpotCheck)
    }

    @Test("An APIScheme other than http or https is a configuration error naming the key")
    func badScheme() throws {
        let configuration = try Self.read(
            #"{"APIScheme":"gopher","Env":{"ARVADOS_API_HOST":"h:1","ARVADOS_API_TOKEN":"t"}}"#
        )
        #expect(!configuration.ec2SpotCheck)
        #expect {
            _ = try configuration.apiAddress()
        } throws: { error in
            "\(error)".contains("APIScheme")
        }
    }
}
