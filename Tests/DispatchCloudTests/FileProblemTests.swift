import DispatchTestSupport
import Foundation
import Testing

@testable import DispatchCloud

/// What the log says when a data-directory file cannot be written or read: the system's reason, not Foundation's
/// error dump.
@Suite("Data-directory file errors in the log")
struct FileProblemTests {
    @Test("A cost ledger that cannot be saved logs the reason in words")
    func unsavableLedger() async throws {
        let directory = try TemporaryDirectory(prefix: "file-problem")
        defer { directory.remove() }
        let lines = LogLines()
        // The ledger's file is a directory: every save fails, with EISDIR underneath.
        try FileManager.default.createDirectory(
            atPath: directory.file(CostRecorder.fileName),
            withIntermediateDirectories: true
        )
        let recorder = CostRecorder(directory: directory.path, logger: lines.logger())
        await recorder.charge([], at: 1_800_000_000)
        let warnings = lines.all.filter { $0.message == "The cost records could not be saved" }
        let error = try #require(warnings.first?.metadata["error"])
        #expect(!error.contains("NSCocoaErrorDomain") && !error.contains("Code="), "\(error)")
        #expect(error == String(cString: strerror(EISDIR)) || error == String(cString: strerror(EEXIST)), "\(error)")
    }

    @Test("POSIX reasons are named; a JSON problem says so; anything else is described")
    func texts() throws {
        #expect(FileProblem.text(CocoaError(.fileReadNoSuchFile)) == String(cString: strerror(ENOENT)))
        #expect(FileProblem.text(POSIXError(.ENOSPC)) == String(cString: strerror(ENOSPC)))
        let missing = URL(fileURLWithPath: "/nonexistent-\(getpid())/costs.json")
        #expect(throws: (any Error).self) { try Data().write(to: missing) }
        do {
            try Data().write(to: missing)
        } catch {
            #expect(FileProblem.text(error) == String(cString: strerror(ENOENT)), "\(error)")
        }
        let json = Result { try JSONDecoder().decode([String: Int].self, from: Data("[".utf8)) }
        if case .failure(let error) = json { #expect(FileProblem.text(error).hasPrefix("not valid JSON")) }
    }
}
