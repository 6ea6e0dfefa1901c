import DispatchConfig
import Foundation
import Testing

/// Loads `yaml`, recording a test issue (and returning nil) if it fails.
func loadValid(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> LoadedClusterConfig? {
    do {
        return try ClusterConfig.load(yaml: yaml)
    } catch {
        Issue.record("expected the configuration to load, got: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Loads `yaml`, expecting it to fail; returns the error (or nil, recording an issue, if it loaded).
func loadInvalid(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        _ = try ClusterConfig.load(yaml: yaml)
        Issue.record("expected the configuration to be rejected", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// A minimal file: one cluster, the given YAML indented under it.
func cluster(_ body: String) -> String {
    let indented = body.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }
    return "Clusters:\n  z1234:\n" + indented.joined(separator: "\n") + "\n"
}

/// A private temporary directory, removed after `body`.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("dispatch-config-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(
        atPath: directory,
        withIntermediateDirectories: false,
        attributes: [.posixPermissions: 0o700]
    )
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try body(directory)
}

/// Writes `text` to `path` with mode 0600.
func writeFile(_ path: String, _ text: String) throws {
    guard
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
    else { throw CocoaError(.fileWriteUnknown) }
}
