import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The process figures Go's process collector exports, read from `/proc` (Linux).
struct ProcessStatistics: Sendable {
    var cpuSeconds: Double?
    var residentMemoryBytes: Double?
    var virtualMemoryBytes: Double?
    var openFileDescriptors: Double?
    var maximumFileDescriptors: Double?

    static func current() -> ProcessStatistics {
        var statistics = ProcessStatistics()
        if let fields = Self.statFields() {
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            if fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]), ticks > 0 {
                statistics.cpuSeconds = (user + system) / ticks
            }
        }
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ").compactMap {
                Double($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if fields.count >= 2 {
                statistics.virtualMemoryBytes = fields[0] * pageSize
                statistics.residentMemoryBytes = fields[1] * pageSize
            }
        }
        if let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            statistics.openFileDescriptors = Double(descriptors.count)
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            statistics.maximumFileDescriptors = Double(limit.rlim_cur)
        }
        return statistics
    }

    /// When the process started, in seconds since the Unix epoch: boot time plus the start tick of
    /// `/proc/self/stat`.
    static func startTime() -> Double? {
        guard let fields = Self.statFields(),
            let system = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let bootLine = system.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let bootTime = Double(bootLine.dropFirst("btime ".count)),
            fields.count > 19, let ticks = Double(fields[19])
        else { return nil }
        return bootTime + ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The fields of `/proc/self/stat` after the command name: index 0 is field 3 (the state), so field `n` is
    /// at index `n - 3` (utime 14, stime 15, starttime 22).
    private static func statFields() -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }
}
