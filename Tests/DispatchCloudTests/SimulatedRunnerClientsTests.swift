import Testing

@testable import SimulatedRunner

/// The simulated driver's runners reach the API the way their configurations say, through a few shared clients.
@Suite("Simulated runners' API clients")
struct SimulatedRunnerClientsTests {
    typealias Bridge = SimulatedRunnerBridge<ContinuousClock, SystemRandomNumberGenerator>

    static func configuration(token: String, container: String) -> [UInt8] {
        Array(
            #"{"Env":{"ARVADOS_API_HOST":"127.0.0.1:9","ARVADOS_API_TOKEN":"\#(token)"},"KeepBuffers":0,"#
                .utf8
        ) + Array(#""Container":{"uuid":"\#(container)","state":"Locked"}}"#.utf8)
    }

    @Test("Runners of one API share its clients whatever their containers; another token has its own")
    func clientsKeyedByAPI() {
        let first = Bridge.apiKey(of: Self.configuration(token: "t", container: "zzzzz-dz642-000000000000001"))
        let second = Bridge.apiKey(of: Self.configuration(token: "t", container: "zzzzz-dz642-000000000000002"))
        let otherToken = Bridge.apiKey(of: Self.configuration(token: "u", container: "zzzzz-dz642-000000000000001"))
        // Keyed by the whole configuration, each running container had a connection of its own (10,000 at
        // 10,000 instances, and the daemon ran out of descriptors).
        #expect(first == second)
        #expect(first != otherToken)
        // Not a runner's configuration: its own key.
        #expect(Bridge.apiKey(of: Array("x".utf8)) == Array("x".utf8))
    }
}
