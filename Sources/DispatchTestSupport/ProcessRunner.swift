public import Foundation

/// What a finished child process left behind.
public struct ProcessOutput: Sendable {
    /// The exit status, or the signal number for a process killed by a signal.
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs the package's own executables the way a user does, for tests that go through the command line.
public enum ProcessRunner: Sendable {
    /// The folder holding the built products: the one the running test binary sits in.
    public static var productsDirectory: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// The path of a built executable product, such as `dispatch-cloud`.
    public static func product(_ name: String) -> URL {
        self.productsDirectory.appendingPathComponent(name)
    }

    /// The repository root, found from a test source file's `#filePath`.
    public static func repositoryRoot(filePath: String = #filePath) -> URL {
        var url = URL(fileURLWithPath: filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return url
    }

    /// Runs `executable` with `arguments` to completion and collects its output.
    ///
    /// Output is read concurrently with the process so a chatty child cannot block on a full pipe.
    public static func run(
        _ executable: URL,
        _ arguments: [String],
        environment: [String: String]? = nil,
        currentDirectory: URL? = nil,
        stdin: String? = nil
    ) async throws -> ProcessOutput {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let outPipe = Pipe()
        let errPipe = Pipe()
        let inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = inPipe
        let exited = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { process in
            exited.continuation.yield(process.terminationStatus)
            exited.continuation.finish()
        }
        try process.run()
        if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)) }
        try inPipe.fileHandleForWriting.close()
        async let out = Self.readToEnd(outPipe.fileHandleForReading)
        async let err = Self.readToEnd(errPipe.fileHandleForReading)
        let (stdout, stderr) = await (out, err)
        var status: Int32 = -1
        for await code in exited.stream { status = code }
        return ProcessOutput(status: status, stdout: stdout, stderr: stderr)
    }

    private static func readToEnd(_ handle: FileHandle) async -> String {
        await Task.detached { String(decoding: handle.readDataToEndOfFile(), as: UTF8.self) }.value
    }
}
