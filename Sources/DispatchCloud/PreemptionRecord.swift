import DispatchModel
import Foundation
import Logging
import ServiceLifecycle

/// Keeps the pool's preemption counts in the data directory (`preemptions.json`, replaced atomically; no secret),
/// so a restart keeps each container's count.
struct PreemptionRecord: Sendable {
    static let fileName = "preemptions.json"
    /// At most this many containers are kept (the highest counts), so the file stays small.
    static let limit = 10_000

    let url: URL

    init(directory: String) {
        self.url = URL(fileURLWithPath: directory).appendingPathComponent(Self.fileName)
    }

    /// The counts saved last; empty when there is no file. Throws when the file cannot be read or parsed.
    func load() throws -> [ContainerUUID: Int] {
        let data: Data
        do {
            data = try Data(contentsOf: self.url)
        } catch CocoaError.fileReadNoSuchFile {
            return [:]
        }
        let raw = try JSONDecoder().decode([String: Int].self, from: data)
        var counts: [ContainerUUID: Int] = [:]
        for (key, count) in raw where count > 0 {
            counts[ContainerUUID(rawValue: key)] = count
        }
        return counts
    }

    func save(_ counts: [ContainerUUID: Int]) throws {
        var kept = counts
        if kept.count > Self.limit {
            kept = Dictionary(
                uniqueKeysWithValues: kept.sorted { $0.value > $1.value }.prefix(Self.limit).map { ($0.key, $0.value) }
            )
        }
        let raw = Dictionary(uniqueKeysWithValues: kept.map { ($0.key.rawValue, $0.value) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try encoder.encode(raw).write(to: self.url, options: .atomic)
    }
}

/// Restores the pool's preemption counts at start, then saves them whenever they change, and at shutdown.
struct PreemptionPersistence: Service {
    let record: PreemptionRecord
    let logger: Logger
    let restore: @Sendable ([ContainerUUID: Int]) async -> Void
    let counts: @Sendable () async -> [ContainerUUID: Int]
    var interval: Duration = .seconds(5)

    func run() async throws {
        // What the file holds: any difference from it is saved, even one made before the first look.
        var loaded: [ContainerUUID: Int] = [:]
        do {
            loaded = try self.record.load()
            await self.restore(loaded)
        } catch {
            self.logger.warning(
                "The preemption record could not be read; counts start from zero",
                metadata: ["file": "\(self.record.url.path)", "error": "\(FileProblem.text(error))"]
            )
        }
        let initial = loaded
        let last = await cancelWhenGracefulShutdown {
            var saved = initial
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                saved = await self.saveIfChanged(saved)
            }
            return saved
        }
        _ = await self.saveIfChanged(last)
    }

    private func saveIfChanged(_ saved: [ContainerUUID: Int]) async -> [ContainerUUID: Int] {
        let now = await self.counts()
        guard now != saved else { return saved }
        do {
            try self.record.save(now)
        } catch {
            self.logger.warning(
                "The preemption record could not be saved",
                metadata: ["file": "\(self.record.url.path)", "error": "\(FileProblem.text(error))"]
            )
        }
        return now
    }
}
