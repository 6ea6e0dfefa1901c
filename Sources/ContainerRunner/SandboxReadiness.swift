#if canImport(Glibc)
import Glibc
#endif

/// The moment bubblewrap has built a container's sandbox, as an event the supervisor can wait for.
///
/// bwrap's `--block-fd` makes the sandbox read one byte from a descriptor once every mount is in place, just
/// before it starts the container's command. The supervisor gives it the read end of a pipe one page long that
/// already holds that byte: a pipe counts its room in pages, so the write end is not writable until bwrap has
/// read the byte, and then it is; if bwrap dies first, the write end reports an error instead. Either way
/// ``wait(timeout:)`` returns, with no polling and no guessed delay.
///
/// The supervisor waits for it before it starts its own work (its threads, the `ok` to `--detach`, the move to
/// Running, the dispatcher's work those set off): on a small instance that work otherwise competes for the CPU
/// with the sandbox's setup, which is on the container's critical path (measured on 2 cores: the sandbox took
/// 3.9 ms from bwrap's start to the command's instead of 2.8).
final class SandboxReadiness {
    /// The end bwrap reads: the supervisor passes it to bwrap as ``descriptorInSandbox``, then closes its copy.
    private(set) var readEnd: Int32
    /// The end the supervisor watches.
    private var writeEnd: Int32

    /// Where bwrap finds the read end (`--block-fd 3`): right after standard input, output and error.
    static let descriptorInSandbox: Int32 = 3

    private init(readEnd: Int32, writeEnd: Int32) {
        self.readEnd = readEnd
        self.writeEnd = writeEnd
    }

    /// A pipe of one page holding one byte, or nil when this kernel does not let the byte's reading be seen that
    /// way (then the sandbox is started without `--block-fd`, and nobody waits).
    static func make() -> SandboxReadiness? {
        guard let (readEnd, writeEnd) = try? ContainerSupervisor.pipe() else { return nil }
        let readiness = SandboxReadiness(readEnd: readEnd, writeEnd: writeEnd)
        // F_SETPIPE_SZ (1031, a GNU extension Glibc's module leaves out): a pipe of one page-sized slot, full with a
        // single byte in it.
        guard fcntl(writeEnd, 1031, Int32(getpagesize())) >= 0,
            write(writeEnd, "x", 1) == 1,
            POSIX.wait(writeEnd, for: Int16(POLLOUT), until: .now) == 0
        else {
            return nil
        }
        return readiness
    }

    /// Both ends go with it (bwrap still reads the byte already in the pipe).
    deinit {
        self.closeReadEnd()
        if self.writeEnd >= 0 { Glibc.close(self.writeEnd) }
    }

    /// Closes the supervisor's copy of the read end, once the child has its own.
    func closeReadEnd() {
        if self.readEnd >= 0 { Glibc.close(self.readEnd) }
        self.readEnd = -1
    }

    /// Waits until the sandbox has read its byte or is gone, at most `timeout`; false when the time ran out.
    func wait(timeout: Duration) -> Bool {
        POSIX.wait(self.writeEnd, for: Int16(POLLOUT), until: .now + timeout) > 0
    }
}
