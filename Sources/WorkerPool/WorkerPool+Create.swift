import CloudDriver
public import DispatchModel
import Logging

extension WorkerPool {
    /// Starts creating an instance of `type` in the background; it shows as a pending create, then as a
    /// booting worker.
    ///
    /// Returns `false` without calling the cloud when a create cannot work now: the pool has stopped, the
    /// runner binary is unreadable, the pool is at quota or at capacity for the type, creates are throttled, or
    /// `MaxConcurrentInstanceCreateOps` are in flight (which also pauses creates for five seconds).
    public func create(_ type: InstanceType) -> Bool {
        let now = self.now
        guard !self.stopped, (try? self.loadRunnerBinary()) != nil else { return false }
        guard !self.atQuota(), !self.atCapacity(type), !self.holds.createThrottled(at: now) else { return false }
        let limit = self.configuration.maxConcurrentInstanceCreateOps
        if limit > 0 && self.creating.count >= limit {
            self.logger.info(
                "Create paused: MaxConcurrentInstanceCreateOps reached",
                metadata: ["pool.creating": "\(self.creating.count)"]
            )
            self.notify(at: self.holds.tooManyCreates(at: now))
            self.record(
                .hold,
                type: type.name,
                reason: "MaxConcurrentInstanceCreateOps reached: creates paused",
                figures: [.init("creating", "\(self.creating.count)"), .init("limit", "\(limit)")]
            )
            return false
        }
        let secret = Digests.randomSecret()
        self.creating[secret] = PendingCreate(startedAt: now, wallStartedAt: self.wallClock(), type: type)
        let configuration = self.configuration
        var tags = configuration.resourceTags
        tags[configuration.tagKey(.instanceSetID)] = configuration.instanceSetID.rawValue
        tags[configuration.tagKey(.instanceType)] = type.name.rawValue
        tags[configuration.tagKey(.idleBehavior)] = IdleBehavior.run.rawValue
        tags[configuration.tagKey(.instanceSecret)] = secret
        let initCommand = RemoteCommands.initCommand(
            secret: secret,
            instanceInitCommand: configuration.instanceInitCommand
        )
        let instanceSet = self.instanceSet
        let createTags = tags
        self.logger.info("Instance create requested", metadata: ["instance.type": "\(type.name)"])
        self.spawn {
            let result: Result<Instance, CloudError>
            do throws(CloudError) {
                result = .success(
                    try await instanceSet.create(
                        type: type,
                        imageID: configuration.imageID,
                        tags: createTags,
                        initCommand: initCommand,
                        publicKey: configuration.publicKey
                    )
                )
            } catch {
                result = .failure(error)
            }
            await self.createFinished(secret: secret, type: type, result: result)
        }
        self.notify()
        return true
    }

    /// Replaces the creates to start as creates in flight finish (the scheduler's ``Plan/createBacklog``, in
    /// queue order), and starts what `MaxConcurrentInstanceCreateOps` allows now.
    public func replaceCreateBacklog(_ types: [InstanceType]) {
        self.createBacklog = types[...]
        self.startBackloggedCreates()
    }

    /// Starts creates from the backlog while fewer than `MaxConcurrentInstanceCreateOps` are in flight; drops
    /// the rest when one cannot start (the pool stopped, quota, `MaxInstances`, capacity, a pause): the next
    /// pass decides again.
    func startBackloggedCreates() {
        let limit = self.configuration.maxConcurrentInstanceCreateOps
        while limit == 0 || self.creating.count < limit, let type = self.createBacklog.popFirst() {
            guard self.create(type) else {
                self.createBacklog = []
                return
            }
        }
    }

    private func createFinished(secret: String, type: InstanceType, result: Result<Instance, CloudError>) {
        defer {
            self.creating[secret] = nil
            // After a failure too: its hold, if any, makes the backlog's next create refuse, dropping the rest.
            self.startBackloggedCreates()
            self.notify()
        }
        switch result {
        case .success(let instance):
            // Added while the create is still pending, so the worker starts out booting.
            self.addOrUpdate(instance, type: type)
        case .failure(let error):
            self.logger.error(
                "Instance create failed",
                metadata: ["instance.type": "\(type.name)", "error": "\(error)"]
            )
            let others = self.workers.count + self.creating.count - 1
            let expiry = self.holds.createFailed(error, otherInstances: others, at: self.now)
            if let expiry { self.notify(at: expiry) }
            self.recordCreateFailed(type, error, otherInstances: others, expiry: expiry)
        }
    }
}
