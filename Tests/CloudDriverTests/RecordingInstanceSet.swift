import CloudDriver
import DispatchModel
import DispatchTestSupport
import Synchronization

/// A scriptable in-memory instance set that records each call and the manual-clock time it arrived.
final class RecordingInstanceSet: InstanceSet, Sendable {
    struct Call: Hashable, Sendable {
        var operation: String
        var at: Duration
    }

    struct Instance: CloudInstance {
        let id: InstanceID
        let providerType: String
        let tags: InstanceTags
        let owner: RecordingInstanceSet
        var address: String { "10.0.0.1" }
        var remoteUser: String { "root" }

        func setTags(_ tags: InstanceTags) async throws(CloudError) {
            try self.owner.record("SetTags")
            self.owner.state.withLock { $0.tags[self.id] = tags }
        }

        func destroy() async throws(CloudError) {
            try self.owner.record("Destroy")
            self.owner.state.withLock { _ = $0.tags.removeValue(forKey: self.id) }
        }
    }

    struct State {
        var calls: [Call] = []
        var tags: [InstanceID: InstanceTags] = [:]
        var createdTags: [InstanceTags] = []
        var failing: Set<String> = []
        var nextID = 0
    }

    let state = Mutex(State())
    let clock: ManualClock

    init(clock: ManualClock = ManualClock()) {
        self.clock = clock
    }

    var calls: [Call] { self.state.withLock { $0.calls } }
    var createdTags: [InstanceTags] { self.state.withLock { $0.createdTags } }

    /// Makes every later call of `operation` fail with ``CloudError/Code-swift.struct/other``.
    func fail(_ operation: String) {
        self.state.withLock { _ = $0.failing.insert(operation) }
    }

    /// Adds an instance directly, as if someone else had created it.
    func add(_ id: InstanceID, tags: InstanceTags) {
        self.state.withLock { $0.tags[id] = tags }
    }

    fileprivate func record(_ operation: String) throws(CloudError) {
        let now = self.clock.now.offset
        let fails = self.state.withLock { state in
            state.calls.append(Call(operation: operation, at: now))
            return state.failing.contains(operation)
        }
        if fails { throw CloudError.other("\(operation) failed on purpose") }
    }

    func create(
        type: InstanceType,
        imageID: ImageID,
        tags: InstanceTags,
        initCommand: String,
        publicKey: String?
    ) async throws(CloudError) -> Instance {
        try self.record("Create")
        let id = self.state.withLock { state in
            defer { state.nextID += 1 }
            let id = InstanceID(rawValue: "inst\(state.nextID)")
            state.tags[id] = tags
            state.createdTags.append(tags)
            return id
        }
        return Instance(id: id, providerType: type.providerType, tags: tags, owner: self)
    }

    func instances(tagged tags: InstanceTags) async throws(CloudError) -> [Instance] {
        try self.record("List")
        return self.state.withLock { $0.tags }.sorted { $0.key < $1.key }.map {
            Instance(id: $0.key, providerType: "providertype1", tags: $0.value, owner: self)
        }
    }

    func quotaGroup(for type: InstanceType) -> InstanceQuotaGroup {
        InstanceQuotaGroup(rawValue: String(type.providerType.prefix(1)))
    }

    func stop() async {}
}
