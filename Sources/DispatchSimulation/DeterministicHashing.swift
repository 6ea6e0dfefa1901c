import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Simulator {
    /// Runs this process again with `SWIFT_DETERMINISTIC_HASHING` set, unless it is set already.
    ///
    /// Dictionaries and sets iterate in a per-process random order unless hashing is deterministic, and the
    /// dispatcher iterates some; a run repeats byte for byte only with it. Call it first thing in a program that
    /// simulates (`dispatch-cloud simulate`, `simulation-benchmark`).
    public static func reexecWithDeterministicHashing() {
        guard ProcessInfo.processInfo.environment["SWIFT_DETERMINISTIC_HASHING"] == nil else { return }
        setenv("SWIFT_DETERMINISTIC_HASHING", "1", 1)
        let arguments = CommandLine.arguments
        var pointers = arguments.map { strdup($0) }
        pointers.append(nil)
        execv("/proc/self/exe", pointers)
        // Not replaced (no /proc): carry on; the run is still valid, only not repeatable byte for byte.
        for pointer in pointers { free(pointer) }
    }
}
