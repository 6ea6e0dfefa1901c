import CloudDriverSimulated
import Foundation
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

/// The connection members are read from a runner's configuration without decoding the rest of it, and read the same
/// as the whole-document decoder reads them.
@Suite("Simulated runners' connection members")
struct ConnectionMembersTests {
    typealias Bridge = SimulatedRunnerBridge<ContinuousClock, SystemRandomNumberGenerator>

    struct Whole: Decodable, Equatable {
        var env: [String: String]?
        var apiScheme: String?
        enum CodingKeys: String, CodingKey {
            case env = "Env"
            case apiScheme = "APIScheme"
        }
    }

    static func whole(_ bytes: [UInt8]) -> Whole? { try? JSONDecoder().decode(Whole.self, from: Data(bytes)) }

    static func space(_ walk: inout SeededRandomNumberGenerator) -> String {
        ["", " ", "\n", "\t ", "\r\n  "].randomElement(using: &walk)!
    }

    /// A string of awkward characters: quotes, backslashes, brackets, commas, Unicode, escapes.
    static func text(_ walk: inout SeededRandomNumberGenerator) -> String {
        let pieces = ["a", "ARVADOS", "\\\"", "\\\\", "{", "}", "[", "]", ",", ":", "é", "\\u00e9", "\\n", " ", "9"]
        return (0..<Int.random(in: 0...6, using: &walk)).map { _ in pieces.randomElement(using: &walk)! }.joined()
    }

    /// Any JSON value, nested up to `depth`.
    static func value(_ walk: inout SeededRandomNumberGenerator, depth: Int) -> String {
        switch Int.random(in: 0..<(depth > 0 ? 8 : 5), using: &walk) {
        case 0: return "\"\(Self.text(&walk))\""
        case 1: return ["0", "-12", "3.5e7", "1E-2", "9223372036854775807"].randomElement(using: &walk)!
        case 2: return ["true", "false", "null"].randomElement(using: &walk)!
        case 3: return "\"\""
        case 4: return "{}"
        case 5:
            let members = (0..<Int.random(in: 1...4, using: &walk)).map { _ in
                "\"\(Self.text(&walk))\"\(Self.space(&walk)):\(Self.space(&walk))\(Self.value(&walk, depth: depth - 1))"
            }
            return "{" + members.joined(separator: "," + Self.space(&walk)) + "}"
        default:
            let items = (0..<Int.random(in: 0...4, using: &walk)).map { _ in Self.value(&walk, depth: depth - 1) }
            return "[" + Self.space(&walk) + items.joined(separator: ",") + "]"
        }
    }

    /// A configuration: Env (strings, or now and then something else), APIScheme, and other members, in any order.
    static func configuration(_ walk: inout SeededRandomNumberGenerator) -> String {
        var members: [String] = []
        if Int.random(in: 0..<5, using: &walk) > 0 {
            let env =
                Int.random(in: 0..<8, using: &walk) == 0
                ? Self.value(&walk, depth: 2)
                : "{"
                    + (0..<Int.random(in: 0...3, using: &walk)).map { i in
                        "\"VAR\(i)\(Self.text(&walk))\":\(Self.space(&walk))\"\(Self.text(&walk))\""
                    }.joined(separator: ",") + "}"
            members.append("\"Env\"\(Self.space(&walk)):\(Self.space(&walk))\(env)")
        }
        if Bool.random(using: &walk) {
            let scheme = Bool.random(using: &walk) ? "\"\(Self.text(&walk))\"" : Self.value(&walk, depth: 1)
            members.append("\"APIScheme\":\(scheme)")
        }
        for _ in 0..<Int.random(in: 0...4, using: &walk) {
            members.append(
                "\"\(["Container", "KeepBuffers", "Env2", "APISchemes", "\\u0045nv"].randomElement(using: &walk)!)\":\(Self.value(&walk, depth: 4))"
            )
        }
        members.shuffle(using: &walk)
        return Self.space(&walk) + "{" + members.joined(separator: "," + Self.space(&walk)) + "}" + Self.space(&walk)
    }

    @Test("4,000 random configurations and 4,000 damaged ones: wherever the whole document decodes, the same members")
    func sameAsWholeDocument() {
        var walk = SeededRandomNumberGenerator(seed: 2026)
        var decoded = 0
        for round in 0..<8000 {
            var bytes = Array(Self.configuration(&walk).utf8)
            if round % 2 == 1, !bytes.isEmpty {
                // Damage: a byte changed, removed or repeated, or the document cut short.
                let at = Int.random(in: 0..<bytes.count, using: &walk)
                switch Int.random(in: 0..<4, using: &walk) {
                case 0: bytes[at] = Array("{}[]\",:\\ x0".utf8).randomElement(using: &walk)!
                case 1: bytes.remove(at: at)
                case 2: bytes.insert(bytes[at], at: at)
                default: bytes.removeSubrange(at...)
                }
            }
            let whole = Self.whole(bytes)
            let members = Bridge.connectionMembers(of: bytes)
            if let whole {
                decoded += 1
                #expect(
                    members.map { Whole(env: $0.env, apiScheme: $0.apiScheme) } == whole,
                    "\(String(decoding: bytes, as: UTF8.self))"
                )
            }
        }
        // Most documents decode (the damaged ones, not all), so the comparison covered something.
        #expect(decoded > 3000)
    }

    @Test("A name written with an escape, or a member twice, is left to the whole-document decoder")
    func escapedOrRepeatedNames() {
        #expect(TopLevelMembers.ranges(of: Array(#"{"\u0045nv":{}}"#.utf8), named: ["Env"]) == nil)
        #expect(TopLevelMembers.ranges(of: Array(#"{"Env":{},"Env":{"A":"b"}}"#.utf8), named: ["Env"]) == nil)
        #expect(Bridge.connectionMembers(of: Array(#"{"\u0045nv":{"A":"b"}}"#.utf8))?.env == ["A": "b"])
        let ranges = TopLevelMembers.ranges(of: Array(#" {"Env" : {"A":"}"} , "X":[1,{"]":2}]}"#.utf8), named: ["Env"])
        #expect(ranges?["Env"] == 10..<19)
    }
}
