import Foundation

/// A fresh directory under the system temporary directory, removed by ``remove()``.
public struct TemporaryDirectory: Sendable {
    /// The directory's absolute path.
    public let path: String

    /// Creates a new, empty, private (0700) directory whose name starts with `prefix`.
    public init(prefix: String = "dispatch-test") throws {
        var template = Array((NSTemporaryDirectory() + "/\(prefix).XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else {
            throw TestSupportError("mkdtemp failed: errno \(errno)")
        }
        self.path = String(cString: created)
    }

    /// The absolute path of `name` inside the directory.
    public func file(_ name: String) -> String {
        self.path + "/" + name
    }

    /// Writes `text` to `name` with the given permissions and returns its path.
    @discardableResult
    public func write(_ text: String, to name: String, permissions: Int = 0o600) throws -> String {
        let path = self.file(name)
        guard
            FileManager.default.createFile(
                atPath: path,
                contents: Data(text.utf8),
                attributes: [.posixPermissions: permissions]
            )
        else {
            throw TestSupportError("cannot write \(path)")
        }
        return path
    }

    /// Deletes the directory and everything in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

/// A failure in a test helper.
public struct TestSupportError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}
