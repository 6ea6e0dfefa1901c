import Foundation
import Synchronization

/// Runs helper programs (ssh-keygen, sshd) for tests.
public enum LocalProcess: Sendable {
    /// What a finished program produced.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` with `arguments` to completion and returns its exit status and output.
    public static func run(_ executable: String, _ arguments: [String]) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read stderr on another thread while this one reads stdout, so neither pipe can fill up and block.
        let errorData = DataBox()
        let errorDone = DispatchSemaphore(value: 0)
        let errorHandle = stderr.fileHandleForReading
        DispatchQueue.global().async {
            errorData.set(errorHandle.readDataToEndOfFile())
            errorDone.signal()
        }
        let outputData = stdout.fileHandleForReading.readDataToEndOfFile()
        errorDone.wait()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus,
            stdout: String(decoding: outputData, as: UTF8.self),
            stderr: String(decoding: errorData.get(), as: UTF8.self)
        )
    }

    /// Whether an executable file exists at `path`.
    public static func exists(_ path: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: path)
    }
}

private final class DataBox: Sendable {
    private let data = Mutex(Data())

    func set(_ value: Data) {
        self.data.withLock { $0 = value }
    }

    func get() -> Data {
        self.data.withLock { $0 }
    }
}
