import ArvadosAPI
import DispatchModel

/// Batches a container's output and writes it to the API's `logs`, one record per stream per flush.
///
/// A batch is cut at a line end when there is one, and never inside a UTF-8 sequence, so every record holds
/// valid text. Write failures are retried a few times and then dropped: losing log lines must not stop the
/// container from being finalized.
actor LogStreamer {
    private let client: ArvadosClient
    private let uuid: ContainerUUID
    private var buffers: [String: [UInt8]] = [:]
    /// Flush a stream as soon as it holds this much.
    static let flushThreshold = 64 * 1024

    init(client: ArvadosClient, uuid: ContainerUUID) {
        self.client = client
        self.uuid = uuid
    }

    /// Adds output of `event` (`stdout`, `stderr` or `crunch-run`).
    func append(_ event: String, _ bytes: [UInt8]) async {
        self.buffers[event, default: []] += bytes
        if (self.buffers[event]?.count ?? 0) >= Self.flushThreshold {
            await self.flush(event, final: false)
        }
    }

    /// Writes a message of the runner itself, as `crunch-run` writes its own log lines.
    func note(_ message: String) async {
        await self.append("crunch-run", Array((message + "\n").utf8))
        await self.flush("crunch-run", final: true)
    }

    /// Adds a message of the runner itself to go with the next flush, saving a request of its own.
    func noteLater(_ message: String) async {
        await self.append("crunch-run", Array((message + "\n").utf8))
    }

    /// Writes whatever is buffered; with `final`, partial lines too.
    func flushAll(final: Bool) async {
        for event in self.buffers.keys.sorted() {
            await self.flush(event, final: final)
        }
    }

    private func flush(_ event: String, final: Bool) async {
        guard let buffer = self.buffers[event], !buffer.isEmpty else { return }
        let cut = final ? buffer.count : Self.cutPoint(buffer)
        guard cut > 0 else { return }
        self.buffers[event] = Array(buffer[cut...])
        let text = String(decoding: buffer[..<cut], as: UTF8.self)
        let log = ArvadosLog(objectUUID: self.uuid.rawValue, eventType: event, properties: ["text": .string(text)])
        // Keep the text while the API is away (a dispatcher with an embedded API restarting, say): retry with
        // a growing pause, for about as long as finalization retries.
        var delay = Duration.milliseconds(200)
        let deadline = ContinuousClock.now.advanced(by: .seconds(120))
        while true {
            do {
                try await self.client.writeLog(log)
                return
            } catch  where [.transport, .serviceUnavailable, .server].contains(error.code) {
                guard ContinuousClock.now < deadline else { return }
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    // A periodic flush that was stopped: give the text back for the final flush, which
                    // retries on its own (a cancelled task must not retry, or it would spin).
                    self.buffers[event] = Array(buffer[..<cut]) + (self.buffers[event] ?? [])
                    return
                }
                delay = min(delay * 2, .seconds(5))
            } catch {
                // Refused for good: the text cannot be stored.
                return
            }
        }
    }

    /// Where to cut a batch: after the last newline, else before a trailing incomplete UTF-8 sequence.
    static func cutPoint(_ buffer: [UInt8]) -> Int {
        if let newline = buffer.lastIndex(of: UInt8(ascii: "\n")) { return newline + 1 }
        var end = buffer.count
        // Back up over continuation bytes and the lead byte of a sequence that may be incomplete.
        var back = 0
        while end > 0, back < 4, buffer[end - 1] & 0xC0 == 0x80 {
            end -= 1
            back += 1
        }
        if end > 0, buffer[end - 1] >= 0xC0 {
            let lead = buffer[end - 1]
            let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
            if back + 1 < length { return end - 1 }
            return buffer.count
        }
        return buffer.count
    }
}
