import CloudDriverSimulated
import DispatchModel
import Foundation
import Testing

/// `ContainerUUID` keeps a well-formed UUID packed and any other text as given: what it shows must be the text's,
/// whichever way it is kept.
@Suite("Container UUID storage")
struct ContainerUUIDPackingTests {
    static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// A well-formed UUID, its characters drawn from the whole alphabet (the extremes included often).
    static func wellFormed(_ random: inout SeededRandomNumberGenerator) -> String {
        func characters(_ count: Int) -> String {
            let mode = random.next() % 4
            return String(
                decoding: (0..<count).map { _ in
                    switch mode {
                    case 0: UInt8(ascii: "z")
                    case 1: UInt8(ascii: "0")
                    default: Self.alphabet[Int(random.next() % 36)]
                    }
                },
                as: UTF8.self
            )
        }
        return "\(characters(5))-dz642-\(characters(15))"
    }

    /// Text that is not a well-formed UUID: near misses, the lengths the storage treats apart, odd bytes.
    static func other(_ random: inout SeededRandomNumberGenerator) -> String {
        let base = Self.wellFormed(&random)
        switch random.next() % 10 {
        case 0: return String(base.dropLast())
        case 1: return base + "0"
        case 2: return base.uppercased()
        case 3: return base.replacingOccurrences(of: "-dz642-", with: "-dz643-")
        case 4: return String(base.prefix(15))
        case 5: return "\u{7F}" + String(base.prefix(Int(random.next() % 20)))
        case 6: return String(decoding: (0..<15).map { _ in UInt8(random.next() % 43) }, as: UTF8.self)
        case 7: return base.replacingOccurrences(of: "a", with: "é")
        case 8: return String(base.prefix(Int(random.next() % 27)))
        default: return String(base.dropFirst(12))
        }
    }

    /// The shape, by its definition: five lowercase letters or digits, `-dz642-`, fifteen more.
    static func isWellFormed(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1] == "dz642", parts[0].utf8.count == 5, parts[2].utf8.count == 15 else {
            return false
        }
        return (parts[0] + parts[2]).utf8.allSatisfy { Self.alphabet.contains($0) }
    }

    @Test("Every text comes back as given, and equality, hashing and order are the text's")
    func roundTripAndOrder() {
        var random = SeededRandomNumberGenerator(seed: 7)
        var texts: [String] = ["", "\u{7F}", "c1", "zzzzz-dz642-000000000000000", "zzzzz-dz642-zzzzzzzzzzzzzzz"]
        for _ in 0..<3000 {
            texts.append(random.next() % 2 == 0 ? Self.wellFormed(&random) : Self.other(&random))
        }
        let uuids = texts.map { ContainerUUID(rawValue: $0) }
        for (text, uuid) in zip(texts, uuids) {
            #expect(uuid.rawValue == text)
            #expect(uuid.description == text)
            #expect(uuid == ContainerUUID(rawValue: String(text)))
            #expect(uuid.hashValue == ContainerUUID(rawValue: String(text)).hashValue)
            #expect(uuid.digest == ContainerUUID(rawValue: String(text)).digest)
            #expect(uuid.isWellFormed == Self.isWellFormed(text), "\(text)")
            #expect(uuid.clusterID == (Self.isWellFormed(text) ? ClusterID(rawValue: String(text.prefix(5))) : nil))
        }
        for _ in 0..<20000 {
            let i = Int(random.next() % UInt64(texts.count))
            let j = Int(random.next() % UInt64(texts.count))
            #expect((uuids[i] == uuids[j]) == (texts[i] == texts[j]), "\(texts[i]) vs \(texts[j])")
            #expect((uuids[i] < uuids[j]) == (texts[i] < texts[j]), "\(texts[i]) vs \(texts[j])")
        }
        #expect(uuids.sorted().map(\.rawValue) == texts.sorted())
        // Distinct texts stay distinct in a set, whichever way each is kept.
        #expect(Set(uuids).count == Set(texts).count)
    }

    @Test("Setting the raw value re-keeps the UUID; JSON carries the text")
    func settingAndCoding() throws {
        var uuid = ContainerUUID(rawValue: "zzzzz-dz642-abcdefghij01234")
        uuid.rawValue = "not a uuid"
        #expect(uuid == ContainerUUID(rawValue: "not a uuid"))
        uuid.rawValue = "zzzzz-dz642-abcdefghij01234"
        #expect(uuid.rawValue == "zzzzz-dz642-abcdefghij01234")
        let json = try JSONEncoder().encode([uuid, ContainerUUID(rawValue: "c1")])
        #expect(String(decoding: json, as: UTF8.self) == #"["zzzzz-dz642-abcdefghij01234","c1"]"#)
        #expect(try JSONDecoder().decode([ContainerUUID].self, from: json) == [uuid, "c1"])
    }
}
