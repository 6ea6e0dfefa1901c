import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A data-directory file operation's error in words for the log: the system's reason (`Too many open files`,
/// `No space left on device`) instead of Foundation's `Error Domain=NSCocoaErrorDomain Code=512 "(null)"
/// UserInfo={…}`, which names the reason only as a number several levels down.
enum FileProblem {
    static func text(_ error: any Error) -> String {
        if error is DecodingError || error is EncodingError { return "not valid JSON: \(error)" }
        let bridged = error as NSError
        let underlying = (bridged.userInfo[NSUnderlyingErrorKey] as? any Error).map { $0 as NSError }
        for candidate in [underlying, bridged] {
            if let candidate, candidate.domain == NSPOSIXErrorDomain, let code = Int32(exactly: candidate.code) {
                return String(cString: strerror(code))
            }
        }
        if bridged.domain == NSCocoaErrorDomain, CocoaError.Code(rawValue: bridged.code) == .fileReadNoSuchFile {
            return String(cString: strerror(ENOENT))
        }
        return "\(error)"
    }
}
