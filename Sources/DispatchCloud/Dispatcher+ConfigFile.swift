import Crypto
public import Foundation

extension Dispatcher {
    /// What `arvados_config_source_timestamp_seconds{sha256}` and `arvados_config_load_timestamp_seconds{sha256}`
    /// report about a configuration file, as Arvados's `lib/config`: the SHA-256 of its bytes in hex and its
    /// modification time; `nil` when the file cannot be read.
    public static func configurationFileIdentity(path: String) -> (sha256: String, modified: Date?)? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let digest = SHA256.hash(data: data).map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }
        let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        return (digest.joined(), modified)
    }
}
