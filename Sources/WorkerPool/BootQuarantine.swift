import DispatchModel

/// When to stop creating an (instance type, image) pair whose boots keep failing, and for how long: a value
/// the pool owns, fed every boot outcome.
///
/// ``Configuration/failures`` failed boots in a row (boot timeout, or broken before it was ready) within
/// ``Configuration/window`` quarantine the pair for ``Configuration/cooldown``; each further quarantine in a
/// row doubles it, up to ``Configuration/maxCooldown``. Once a quarantine has ended, a single failed boot of
/// the trial instance quarantines the pair again (at the next length); a successful boot clears it all.
struct BootQuarantine<Instant: InstantProtocol & Sendable>: Sendable where Instant.Duration == Duration {
    typealias Configuration = BootQuarantineConfiguration

    /// An instance type booted from an image.
    struct Pair: Hashable, Sendable {
        var type: InstanceTypeName
        var image: ImageID

        init(type: InstanceTypeName, image: ImageID) {
            self.type = type
            self.image = image
        }
    }

    /// What is known of one pair.
    struct Record: Hashable, Sendable {
        /// The failed boots in a row, oldest first, within the window.
        var failures: [Instant] = []
        /// How many quarantines in a row (0: never, or cleared by a successful boot).
        var level = 0
        /// When the current (or last) quarantine ends.
        var until: Instant?
    }

    /// What a boot outcome led to.
    enum Decision: Hashable, Sendable {
        case none
        /// The pair is quarantined until the instant, for the duration, at this level.
        case quarantined(until: Instant, cooldown: Duration, level: Int, failures: Int)
    }

    let configuration: Configuration
    private(set) var records: [Pair: Record] = [:]

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// A boot of the pair failed.
    mutating func bootFailed(_ pair: Pair, at now: Instant) -> Decision {
        guard self.configuration.failures > 0 else { return .none }
        var record = self.records[pair] ?? Record()
        if let until = record.until, now < until {
            // An instance created before the quarantine began: already counted for.
            return .none
        }
        record.failures.append(now)
        record.failures.removeAll { $0.duration(to: now) > self.configuration.window }
        let threshold = record.level > 0 ? 1 : self.configuration.failures
        guard record.failures.count >= threshold else {
            self.records[pair] = record
            return .none
        }
        let failures = record.failures.count
        record.level += 1
        let cooldown = self.cooldown(level: record.level)
        let until = now.advanced(by: cooldown)
        record.until = until
        record.failures = []
        self.records[pair] = record
        return .quarantined(until: until, cooldown: cooldown, level: record.level, failures: failures)
    }

    /// A boot of the pair succeeded: its failures and quarantine level are forgotten.
    mutating func bootSucceeded(_ pair: Pair) {
        self.records[pair] = nil
    }

    /// Whether creates of the pair are held now.
    func isQuarantined(_ pair: Pair, at now: Instant) -> Bool {
        // Asked for every type at every pass; most of the time nothing was ever quarantined.
        guard !self.records.isEmpty else { return false }
        return self.records[pair]?.until.map { now < $0 } ?? false
    }

    /// The pairs quarantined now, with when each ends.
    func quarantined(at now: Instant) -> [(pair: Pair, record: Record)] {
        self.records.compactMap { pair, record in
            guard let until = record.until, now < until else { return nil }
            return (pair, record)
        }
        .sorted { $0.pair.type < $1.pair.type }
    }

    /// Lifts every quarantine of `type` now (the next failure counts from zero, at the same level); `false`
    /// when none held.
    mutating func lift(_ type: InstanceTypeName, at now: Instant) -> Bool {
        var lifted = false
        for (pair, var record) in self.records where pair.type == type {
            guard let until = record.until, now < until else { continue }
            record.until = nil
            record.level = 0
            record.failures = []
            self.records[pair] = record
            lifted = true
        }
        return lifted
    }

    /// The length of the quarantine at `level` (1 for the first).
    func cooldown(level: Int) -> Duration {
        var cooldown = self.configuration.cooldown
        var step = 1
        while step < level && cooldown < self.configuration.maxCooldown {
            cooldown = cooldown * 2
            step += 1
        }
        return min(cooldown, self.configuration.maxCooldown)
    }
}

/// `DispatchCloud.BootQuarantine`: when the pool stops creating an instance type whose boots keep failing
/// (``BootQuarantine``).
public struct BootQuarantineConfiguration: Hashable, Sendable {
    /// Failed boots in a row that start a quarantine; 0 turns it off.
    public var failures = 3
    /// The window those failures must fall in.
    public var window: Duration = .seconds(3600)
    /// The first quarantine's length.
    public var cooldown: Duration = .seconds(600)
    /// The longest quarantine.
    public var maxCooldown: Duration = .seconds(24 * 3600)

    public init() {}
}
